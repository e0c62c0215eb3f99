"""New questions from an inbox's emails: a chat model (any local model or OpenAI-compatible endpoint, as the task
generator uses) reads a few emails and proposes questions their owner might ask with short answers, and each
proposal is kept only when the index confirms it (`check_question`):

- `unknown_message`: a cited message is not in the index; `wrong_inbox`: it is in another inbox;
- `after_date`: it was sent on or after the question's date (the agent could not read it);
- `unsupported`: the answer is not stated in the cited emails (`answer_supported`);
- `not_findable`: no keyword search on the question's words, in the inbox before the date, finds a cited email;

and before that the reply itself: `model_error` (the model failed), `unparseable` (no JSON with questions),
`missing_field`, `bad_date`, `too_long` (an answer of more than 20 words), `unrealistic` (below `min_realistic`),
and after it `duplicate` (a question or fact already kept, or one of the `exclude` questions: held-out questions are
never generated again for training). Counts by reason and the first examples go to the report.

The emails shown are drawn from the inbox with the seed; a question's date is the one the model proposes, else a day
to a week after the last email it cites.
"""

from __future__ import annotations

import random
import re
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ..stopping import StopCheck
from ..stopping import check as check_stop
from ..tasks.generators import normalize_query
from ..tasks.taskset import GenerationReport
from .checks import CHECK_REASONS, check_question, text_words
from .index import EmailIndex
from .questions import EmailQuestion, QuestionError, normalize_date, questions_to_tasks, save_questions

__all__ = ["REJECTION_REASONS", "QuestionGeneration", "generate_questions", "inbox_listing"]

REJECTION_REASONS = ("model_error", "unparseable", "missing_field", "bad_date", "too_long", "unrealistic",
                     *CHECK_REASONS, "duplicate")
MAX_ANSWER_WORDS = 20
BODY_CHARS = 1500  # of each email shown to the model
_EXAMPLES = 10
SYSTEM = ("You write questions that the owner of an email inbox might ask an assistant about their own email, each "
          "answered by a short fact stated in the emails. Reply with JSON only.")
INSTRUCTIONS = """Write up to {n} questions the owner of the inbox {inbox} might really ask about these emails. Each
answer must be a short fact stated word for word in the emails: a date, a time, a price, an amount, a name, a place,
a number. Ask the way the owner would ("When is my review with Sara?", "What price did we agree with Dynegy for the
Transco capacity?"), never "according to the email". Reply with JSON only:
{{"questions": [{{"question": "...", "answer": "...", "message_ids": ["the message_id of each email that states the
answer"], "how_realistic": 0.0 to 1.0 (how likely a real person asks this)}}]}}"""


@dataclass
class QuestionGeneration:
    """Generated questions and the report of how they were made.

    Args:
        questions: The kept questions (each with `extra`: the model and the emails shown).
        report: Proposals, kept, rejected by reason with the first examples, settings, time.
    """

    questions: list[EmailQuestion]
    report: GenerationReport = field(default_factory=lambda: GenerationReport(generator="", seed=0, requested=0))

    def save(self, path: str | Path) -> Path:
        """Write the questions as JSON Lines (what `load_questions` reads)."""
        return save_questions(self.questions, path)

    def to_tasks(self, **kwargs) -> Any:
        """The questions as a task set (`questions_to_tasks`), its report this generation's."""
        return questions_to_tasks(self.questions, generator=self.report.generator, report=self.report, **kwargs)


def generate_questions(index: EmailIndex | str | Path, model: Any, *, num: int = 20, inboxes: list[str] | None = None,
                       seed: int = 0, emails_per_prompt: int = 3, questions_per_prompt: int = 2,
                       max_prompts: int | None = None, batch_size: int = 4, temperature: float = 0.7,
                       max_new_tokens: int = 512, min_realistic: float = 0.0,
                       exclude: list[EmailQuestion] | None = None, token: str | None = None, progress: bool = True,
                       should_stop: StopCheck | None = None) -> QuestionGeneration:
    """Have a chat model propose questions about an index's inboxes and keep the ones the index confirms.

    Args:
        index: An `EmailIndex` or its file.
        model: A `ChatModel`, a model name, folder or Hub id (run locally), or an endpoint URL ("URL#model").
        num: How many questions to keep (fewer when `max_prompts` runs out; the report says why).
        inboxes: The inboxes to ask about, by address or user folder (default: all), taken in turn.
        seed: Seed of the emails shown and of the model's sampling.
        emails_per_prompt: Emails of one inbox shown in one request.
        questions_per_prompt: Questions asked for per request.
        max_prompts: Cap on model requests (default: 3 * num + 10).
        batch_size: Requests per round (a local model generates them as one batch).
        temperature: Sampling temperature.
        max_new_tokens: Reply budget.
        min_realistic: Reject proposals the model itself rates less realistic than this.
        exclude: Questions never to generate again (e.g. the held-out test questions).
        token: Bearer token for an endpoint.
        progress: Show a progress bar.
        should_stop: Checked between rounds; once True, generation ends with `stopping.Stopped`.

    Raises:
        QuestionError: a bad setting, an unknown inbox or an inbox without emails.
        ChatError: the model failed on every request of the first two rounds.
    """
    from tqdm.auto import tqdm

    from ..models.chat import ChatError, get_chat_model

    if num < 1 or emails_per_prompt < 1 or questions_per_prompt < 1 or batch_size < 1:
        raise QuestionError("num, emails_per_prompt, questions_per_prompt and batch_size must be at least 1")
    chat = model if hasattr(model, "chat") else get_chat_model(str(model), token=token)
    if not isinstance(index, EmailIndex):
        with EmailIndex(index) as opened:
            return generate_questions(opened, chat, num=num, inboxes=inboxes, seed=seed,
                                      emails_per_prompt=emails_per_prompt, questions_per_prompt=questions_per_prompt,
                                      max_prompts=max_prompts, batch_size=batch_size, temperature=temperature,
                                      max_new_tokens=max_new_tokens, min_realistic=min_realistic, exclude=exclude,
                                      progress=progress, should_stop=should_stop)
    idx = index
    names = inboxes or idx.inboxes()
    addresses = [idx.resolve_inbox(name) for name in names]
    unknown = [n for n, a in zip(names, addresses, strict=True) if a is None]
    if unknown or not addresses:
        raise QuestionError(f"inboxes: {', '.join(map(repr, unknown)) or 'none'} not in the email index {idx.path}")
    rng = random.Random(seed)
    rng.shuffle(addresses)
    max_prompts = max_prompts or 3 * num + 10
    report = GenerationReport(generator=chat.model_id, seed=seed, requested=num, settings={
        "inboxes": len(addresses), "emails_per_prompt": emails_per_prompt,
        "questions_per_prompt": questions_per_prompt, "temperature": temperature, "min_realistic": min_realistic})
    keys = _Seen(exclude or [])
    listings: dict[str, list[str]] = {}
    kept: list[EmailQuestion] = []
    prompts = failed_rounds = 0
    start = time.perf_counter()
    with tqdm(total=num, desc=f"email questions ({chat.model_id})", disable=not progress, unit="question") as bar:
        while len(kept) < num and prompts < max_prompts:
            check_stop(should_stop, f"question generation stopped after {len(kept)} of {num} questions")
            batch = []
            for _ in range(min(batch_size, max_prompts - prompts)):
                inbox = addresses[prompts % len(addresses)]
                if inbox not in listings:
                    listings[inbox] = inbox_listing(idx, inbox)
                    if not listings[inbox]:
                        raise QuestionError(f"inbox {inbox!r} has no emails in {idx.path}")
                shown = rng.sample(listings[inbox], min(emails_per_prompt, len(listings[inbox])))
                emails = sorted((idx.read(mid, inbox=inbox) for mid in shown), key=lambda e: e["date"])
                batch.append((inbox, emails))
                prompts += 1
            replies = _ask(chat, [_messages(inbox, emails, questions_per_prompt) for inbox, emails in batch],
                           rng=rng, temperature=temperature, max_new_tokens=max_new_tokens)
            failed_rounds = failed_rounds + 1 if all(isinstance(r, ChatError) for r in replies) else 0
            for (inbox, emails), reply in zip(batch, replies, strict=True):
                for proposal in _proposals(reply):
                    if len(kept) >= num:
                        break
                    report.attempts += 1
                    question, problem = _question(proposal, inbox, emails, rng, chat.model_id, min_realistic)
                    if question is not None:
                        problem = check_question(idx, question) or keys.problem(question)
                    if problem:
                        reason = problem.split(":", 1)[0]
                        report.rejected[reason] = report.rejected.get(reason, 0) + 1
                        if len(report.examples) < _EXAMPLES:
                            report.examples.append(problem[:300])
                        continue
                    keys.add(question)
                    kept.append(question)
                    bar.update(1)
            if failed_rounds >= 2 and not kept:
                raise ChatError(f"the question generator model failed on every request: {report.examples[-1]}")
    report.kept = len(kept)
    report.settings["prompts"] = prompts
    report.elapsed_s = round(time.perf_counter() - start, 3)
    return QuestionGeneration(questions=kept, report=report)


def inbox_listing(index: EmailIndex, inbox: str) -> list[str]:
    """Every message id of an inbox, newest first, paged through the index's date-ordered search (a search without
    keywords lists an inbox newest first; each page continues before the oldest date of the last).

    Args:
        index: The index.
        inbox: The inbox address.
    """
    from .index import MAX_RESULTS

    ids: list[str] = []
    seen: set[str] = set()
    before = None
    while True:
        page = index.search(inbox, [], sent_before=before, max_results=MAX_RESULTS)
        new = [r for r in page if r["message_id"] not in seen]
        ids += [r["message_id"] for r in new]
        seen.update(r["message_id"] for r in new)
        oldest = min((r["date"] for r in page), default="")
        if len(page) < MAX_RESULTS or not new or not re.match(r"\d{4}-\d{2}-\d{2}", oldest):
            return ids
        before = oldest


def _ask(chat: Any, conversations: list[list[dict]], *, rng: random.Random, temperature: float,
         max_new_tokens: int) -> list[Any]:
    """Each conversation's reply text, or the ChatError it failed with (an endpoint is asked one at a time, so one
    failure costs one request; a local model answers the batch at once)."""
    from ..models.chat import ChatError, LocalChatModel

    kwargs = {"temperature": temperature, "max_new_tokens": max_new_tokens, "seed": rng.randrange(2**31)}
    if isinstance(chat, LocalChatModel):
        return [r.text for r in chat.chat_batch(conversations, **kwargs)]
    out: list[Any] = []
    for messages in conversations:
        try:
            out.append(chat.chat(messages, **kwargs).text)
        except ChatError as e:
            out.append(e)
    return out


def _messages(inbox: str, emails: list[dict], n: int) -> list[dict[str, str]]:
    shown = []
    for i, e in enumerate(emails, start=1):
        body = e["body"] if len(e["body"]) <= BODY_CHARS else e["body"][:BODY_CHARS] + " [...]"
        attached = f"\nattachments: {', '.join(e['attachments'])}" if e["attachments"] else ""
        shown.append(f"Email {i}\nmessage_id: {e['message_id']}\ndate: {e['date']}\nfrom: {e['from']}\n"
                     f"to: {', '.join(e['to'])}\nsubject: {e['subject']}{attached}\n\n{body}")
    text = f"Inbox: {inbox}\n\n" + "\n\n---\n\n".join(shown) + "\n\n---\n\n" + INSTRUCTIONS.format(n=n, inbox=inbox)
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": text}]


def _proposals(reply: Any) -> list[Any]:
    """The proposals of a reply; a failed request or a reply without them is one proposal that says why."""
    from ..traces.json_reply import extract_json

    if isinstance(reply, Exception):
        return [f"model_error: {reply}"]
    try:
        value = extract_json(reply)
    except ValueError:
        return [f"unparseable: no JSON in the reply {reply[:80]!r}"]
    items = value.get("questions") if isinstance(value, dict) else value
    if isinstance(value, dict) and items is None and "question" in value:
        items = [value]
    if not isinstance(items, list) or not items:
        return [f"unparseable: the reply holds no list of questions ({str(value)[:80]})"]
    return items


def _question(proposal: Any, inbox: str, emails: list[dict], rng: random.Random, model_id: str,
              min_realistic: float) -> tuple[EmailQuestion | None, str | None]:
    """A proposal as a question, or why it is not one (the checks that need no index)."""
    if isinstance(proposal, str):
        return None, proposal
    if not isinstance(proposal, dict):
        return None, f"missing_field: a proposal must be an object, got {type(proposal).__name__}"
    question, answer = proposal.get("question"), proposal.get("answer")
    for name, value in (("question", question), ("answer", answer)):
        if not isinstance(value, str) or not value.strip():
            return None, f"missing_field: no {name} in {str(proposal)[:120]}"
    if len(answer.split()) > MAX_ANSWER_WORDS or len(question) > 400:
        return None, f"too_long: answers are short facts, got {answer[:80]!r}"
    cited = proposal.get("message_ids") or proposal.get("message_id")
    cited = [cited] if isinstance(cited, str | int) else cited
    if not isinstance(cited, list) or not cited or not all(isinstance(c, str | int) for c in cited):
        return None, f"missing_field: no message_ids in {str(proposal)[:120]}"
    by_number = {str(i): e["message_id"] for i, e in enumerate(emails, start=1)}
    ids = [by_number.get(str(c).strip(), str(c).strip()) for c in cited]  # "2" is the second email shown
    realistic = proposal.get("how_realistic")
    realistic = min(1.0, max(0.0, float(realistic))) if isinstance(realistic, int | float) and \
        not isinstance(realistic, bool) else 0.5
    if realistic < min_realistic:
        return None, f"unrealistic: the model rates {question[:80]!r} {realistic:.2f} < {min_realistic}"
    if proposal.get("query_date") is not None:
        try:
            asked = normalize_date(proposal["query_date"])
        except ValueError as e:
            return None, f"bad_date: {e}"
    else:
        dates = [e["date"][:10] for e in emails if e["message_id"] in ids]
        last = date.fromisoformat(max(dates)) if dates else date.fromisoformat(emails[-1]["date"][:10])
        asked = (last + timedelta(days=rng.randint(1, 7))).isoformat()
    shown = [e["message_id"] for e in emails]
    return EmailQuestion(question=question.strip(), answer=answer.strip(), message_ids=ids, inbox_address=inbox,
                         query_date=asked, how_realistic=realistic,
                         extra={"generator": model_id, "shown": shown}), None


class _Seen:
    """Questions (per inbox, normalized) and facts (answer and cited messages) already kept or excluded."""

    def __init__(self, exclude: list[EmailQuestion]):
        self.keys: set[tuple] = set()
        for q in exclude:
            self.add(q)

    @staticmethod
    def _keys(q: EmailQuestion) -> tuple[tuple, tuple]:
        return ((q.inbox_address, normalize_query(q.question)),
                (q.inbox_address, " ".join(text_words(q.answer)),
                 tuple(sorted(m.strip("<>") for m in q.message_ids))))

    def problem(self, q: EmailQuestion) -> str | None:
        if any(k in self.keys for k in self._keys(q)):
            return f"duplicate: {q.question[:80]!r} (or its answer from the same emails) is already there"
        return None

    def add(self, q: EmailQuestion) -> None:
        self.keys.update(self._keys(q))

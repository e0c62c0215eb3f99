"""An optional second pass over generated requests: a chat model rewrites each one in everyday words, and the rewrite
is kept only when every argument value of the task's calls can still be read from it (`spoken.ungrounded_values`).
Otherwise the original request stays, and the report says why (`Paraphraser.report`).

Requests that need no tool are left as they are: there is no call to check a rewrite against.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any

from .generators import chat_all, normalize_query, public_model_name
from .spoken import ungrounded_values

PARAPHRASE_SYSTEM_PROMPT = ("You rewrite messages that people send to an assistant, so that they read like a real "
                            "person typed them. You answer with the rewritten message only.")


def paraphrase_messages(query: str, calls: list[dict]) -> list[dict]:
    """The prompt asking to rewrite `query`, naming the values of `calls` that must survive word for word.

    Args:
        query: The generated request.
        calls: Its expected calls.
    """
    values = []
    for call in calls:
        values += [v for v in _leaves(call.get("arguments") or {}) if v not in values]
    listed = "; ".join(str(v) for v in values)
    user = ("Rewrite this request the way a person would type it to an assistant: everyday words, any sentence shape "
            "(a question, a request, a short context first). Keep its meaning and every detail. These values must "
            f"appear exactly as written: {listed}. Add nothing new. Answer with only the rewritten request.\n\n"
            f"Request: {query}")
    return [{"role": "system", "content": PARAPHRASE_SYSTEM_PROMPT}, {"role": "user", "content": user}]


def _leaves(value: Any) -> list:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [] if isinstance(value, bool) or value is None else [value]


def clean_rewrite(text: str) -> str:
    """The rewritten request out of a reply: no "Rewritten request:" label, no surrounding quotes, one paragraph."""
    text = (text or "").strip()
    text = re.sub(r"^(?:here(?:'s| is) (?:the |a |my )?rewrit\w* (?:request|version|message)?:?|"
                  r"rewritten(?: request| message)?:|request:)\s*", "", text, flags=re.I)
    text = next((p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()), "")
    text = " ".join(text.split())
    if len(text) > 1 and text[0] == text[-1] and text[0] in "\"'“”":
        text = text[1:-1].strip()
    return text.strip("“”").strip()


def rewrite_problem(original: str, rewrite: str, calls: list[dict], tool_names: set[str]) -> str | None:
    """Why a rewrite cannot replace the original ("lost_value: ..."), or None when it can.

    Args:
        original: The generated request.
        rewrite: The model's rewrite (cleaned with `clean_rewrite`).
        calls: The task's expected calls: each value must be readable from the rewrite.
        tool_names: The tools' names: people do not write "get_weather".
    """
    if len(rewrite) < 3:
        return "empty: no rewritten request in the reply"
    if len(rewrite) > min(2000, 3 * len(original) + 200):
        return "too_long: the rewrite is much longer than the request"
    if normalize_query(rewrite) == normalize_query(original):
        return "unchanged: the rewrite is the request itself"
    if re.search(r"<[^<>]{2,40}>|\{[^{}]*\}", rewrite):
        return "placeholder: the rewrite holds a template placeholder"
    named = [n for n in tool_names if "_" in n and n.lower() in rewrite.lower()]
    if named:
        return f"names_tool: the rewrite names the tool {named[0]} (people do not)"
    for call in calls:
        missing = ungrounded_values(rewrite, call.get("arguments") or {})
        if missing:
            return f"lost_value: {missing[0]!r} of {call.get('name')} is not in the rewrite"
    return None


class Paraphraser:
    """Rewrites requests with a chat model and keeps the rewrites that still state every argument value.

    Args:
        model: A `toolbrain_hub.models.chat.ChatModel` (or any object with `chat(messages, **kw)`).
        tool_names: The tools' names (a rewrite that names one is refused).
        temperature: Sampling temperature.
        max_new_tokens: Reply budget.
        workers: Parallel requests for an endpoint.
        should_stop: Ends a local model's generation at the next token once it returns True.
    """

    def __init__(self, model: Any, tool_names: set[str], *, temperature: float = 0.7, max_new_tokens: int = 200,
                 workers: int = 2, should_stop: Any = None):
        self.model = model
        self.name = public_model_name(getattr(model, "model_id", "") or type(model).__name__)
        self.tool_names = tool_names
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.workers = max(1, workers)
        self.should_stop = should_stop
        self.asked = 0
        self.kept_original: Counter = Counter()
        self.examples: list[str] = []

    def rewrite(self, tasks: list[tuple[str, list[dict]]], rng: random.Random, taken: set[str]) -> list[str]:
        """The request to keep for each (query, calls): the rewrite, or the original when the rewrite fails a check.

        Args:
            tasks: (query, expected calls) pairs.
            rng: Seeds the model's sampling.
            taken: Normalized requests already in the task set; a rewrite that repeats one is refused (and the kept
                request is added to it).
        """
        from ..models.chat import ChatError

        conversations = [paraphrase_messages(query, calls) for query, calls in tasks]
        kwargs = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature,
                  "seed": rng.randint(0, 2**31 - 1)}
        self.asked += len(tasks)
        try:
            replies = chat_all(self.model, conversations, kwargs, workers=self.workers, should_stop=self.should_stop)
        except ChatError as e:
            self._refuse(f"model_error: {e}", len(tasks))
            return [query for query, _ in tasks]
        out = []
        for (query, calls), reply in zip(tasks, replies, strict=True):
            rewrite = clean_rewrite(getattr(reply, "text", reply))
            problem = rewrite_problem(query, rewrite, calls, self.tool_names)
            if problem is None and normalize_query(rewrite) in taken:
                problem = "duplicate: the rewrite repeats another request"
            if problem:
                self._refuse(problem)
                rewrite = query
            taken.add(normalize_query(rewrite))
            out.append(rewrite)
        return out

    def _refuse(self, problem: str, n: int = 1) -> None:
        self.kept_original[problem.split(":", 1)[0]] += n
        if len(self.examples) < 5 and problem[:300] not in self.examples:
            self.examples.append(problem[:300])

    def report(self) -> dict:
        """What the pass did: the model, requests asked, rewrites kept, originals kept by reason, examples."""
        kept_original = sum(self.kept_original.values())
        return {"model": self.name, "asked": self.asked, "rewritten": self.asked - kept_original,
                "kept_original": dict(self.kept_original), "examples": self.examples}

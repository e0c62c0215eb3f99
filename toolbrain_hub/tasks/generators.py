"""Task generators behind one interface: each turns a `Slot` (what kind of task, which tools) into a `Candidate`.

- `SchemaGenerator`: offline and deterministic for a seed. Samples valid arguments that fit each parameter's
  description from its JSON Schema (`tasks.sampling`) and writes the request as people do, from the tool and
  parameter descriptions (`tasks.phrasing`, `tasks.mentions`); also "no tool needed" negatives (`tasks.negatives`).
- `LLMGenerator`: asks any `toolbrain_hub.models.chat.ChatModel` (local model or OpenAI-compatible endpoint) to propose
  `{query, expected_calls, gold_answer}` as JSON; replies are parsed leniently (`traces.json_reply`) and retried with
  feedback.

Validation, de-duplication, retries and the report live in `toolbrain_hub.tasks`.
"""

from __future__ import annotations

import json
import random
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ..tools.schemas import ToolSpec
from ..traces.json_reply import extract_json_object
from ..traces.parsing import call_from_json
from .negatives import negative_request, tool_vocabulary
from .phrasing import difficulty_of, multi_request, parallel_request, single_request
from .sampling import ArgumentSampler, SamplingError
from .spoken import ISO_DATE
from .vocab import pair_side, string_kind

# single: one call; parallel: several independent calls in one turn; multi: calls in sequence; no_tool: none.
KINDS = ("single", "parallel", "multi", "no_tool")
DIFFICULTIES = ("easy", "medium", "hard")


@dataclass
class Slot:
    """One task to produce: its kind and the tools it should exercise (empty for no_tool)."""

    kind: str
    tools: list[str] = field(default_factory=list)


@dataclass
class Candidate:
    """A proposed task, before validation. `error` is set when the generator could not propose one."""

    query: str = ""
    expected_calls: list[dict] = field(default_factory=list)
    gold_answer: str = ""
    difficulty: str | None = None
    error: str | None = None  # "reason: detail" when the proposal failed
    raw: str = ""  # the model's raw reply (LLM generator), for retry feedback
    conversation: list[dict] = field(default_factory=list)  # the prompt that produced it (LLM generator)
    example_query: str = ""  # the placeholder query of the answer format shown in that prompt
    kind: str | None = None  # "parallel" or "multi" for several calls (by their number when not set)


class SchemaGenerator:
    """Offline generator: arguments sampled from schemas, requests written from descriptions.

    Args:
        tools: The tool set.
        optional_p: Probability of including each optional argument.
    """

    name = "schema"

    def __init__(self, tools: list[ToolSpec], *, optional_p: float = 0.4):
        self.tools = {t.name: t for t in tools}
        self.sampler = ArgumentSampler(optional_p=optional_p)
        self.vocabulary = tool_vocabulary(tools)

    def propose(self, slots: list[Slot], rng: random.Random, feedback: list[Candidate | None] | None = None
                ) -> list[Candidate]:
        return [self._one(slot, rng) for slot in slots]

    def _one(self, slot: Slot, rng: random.Random) -> Candidate:
        if slot.kind == "no_tool":
            negative = negative_request(rng, self.vocabulary)
            if negative is None:
                return Candidate(error="no_negative: every no-tool request overlaps the tools' vocabulary")
            query, gold, difficulty = negative
            return Candidate(query=query, gold_answer=gold, difficulty=difficulty)
        try:
            if slot.kind == "parallel" and len(set(slot.tools)) == 1:
                tool = self.tools[slot.tools[0]]
                calls = [(tool, args) for args in self._variants(tool, len(slot.tools), rng)]
            else:
                calls = []
                for name in slot.tools:
                    tool = self.tools[name]
                    args = self.sampler.arguments(tool, rng)
                    if slot.kind == "multi" and calls:
                        args = self._follow(*calls[-1], tool, args, rng)
                    calls.append((tool, args))
        except SamplingError as e:
            return Candidate(error=f"sampling_failed: {e}")
        if len(calls) == 1:
            query = single_request(*calls[0], rng)
        else:
            query = (parallel_request if slot.kind == "parallel" else multi_request)(calls, rng)
        expected = [{"name": tool.name, "arguments": args} for tool, args in calls]
        return Candidate(query=query, expected_calls=expected, difficulty=difficulty_of(expected),
                         kind=slot.kind if len(calls) > 1 else None)

    def _variants(self, tool: ToolSpec, n: int, rng: random.Random) -> list[dict]:
        """`n` different argument sets for one tool, as a person asks for them together: mostly one argument (or
        a from/to pair) differs and the rest is shared ("the weather in Paris and in Tokyo, in celsius")."""
        first = self.sampler.arguments(tool, rng)
        keys = [k for k in first if not _fixed(tool.properties.get(k))]
        if not keys:
            raise SamplingError(f"{tool.name!r}: no argument can differ between parallel calls")
        paired = [k for k in keys if (pair_side(k) or ("",))[0] in ("from", "to")]
        roll = rng.random()
        vary = paired if paired and roll < 0.35 else keys if roll > 0.8 else [rng.choice(
            [k for k in keys if k in tool.required] or keys)]
        out = [first]
        for _ in range(n - 1):
            for _ in range(12):
                args = dict(out[0])
                for key in vary:
                    args[key] = self.sampler.value(tool.properties[key], rng, name=key, root=tool.parameters)
                distinct = all(any(args[k] != other[k] for k in vary) for other in out)
                if distinct and not tool.validate_arguments(args) and _distinct_strings(args):
                    out.append(args)
                    break
            else:
                raise SamplingError(f"{tool.name!r}: could not draw {n} different calls")
        return out

    def _follow(self, before: ToolSpec, previous: dict, tool: ToolSpec, args: dict, rng: random.Random) -> dict:
        """A later call of a sequence that follows the earlier one: now and then it reuses its date or place ("book
        a hotel in Lisbon, then get the weather in Lisbon")."""
        out = dict(args)
        for key, value in args.items():
            schema = tool.properties.get(key)
            if not isinstance(value, str) or not isinstance(schema, dict) or schema.get("enum") or rng.random() < 0.5:
                continue
            kind = "date" if ISO_DATE.match(value) else string_kind(key, schema.get("description") or "", schema)
            if kind not in ("date", "city", "city_state", "country", "airport"):
                continue
            for other_key, other in previous.items():
                other_schema = before.properties.get(other_key)
                other_schema = other_schema if isinstance(other_schema, dict) else {}
                other_kind = "date" if isinstance(other, str) and ISO_DATE.match(other) else string_kind(
                    other_key, other_schema.get("description") or "", other_schema)
                if isinstance(other, str) and other_kind == kind and other != value:
                    trial = {**out, key: other}
                    if not tool.validate_arguments(trial) and _distinct_strings(trial):
                        out = trial
                    break
        return out


def _fixed(schema: Any) -> bool:
    """A parameter that can take one value only (const, an enum of one)."""
    return isinstance(schema, dict) and ("const" in schema or len(schema.get("enum") or [None, None]) < 2)


def _distinct_strings(args: dict) -> bool:
    strings = [v for v in args.values() if isinstance(v, str)]
    return len(strings) == len(set(strings))


# ----------------------------------------------------------------------------------------------------------------
# LLM generator

LLM_SYSTEM_PROMPT = ("You write test cases for an assistant that can call tools. You always answer with one JSON "
                     "object and nothing else.")


class LLMGenerator:
    """Asks a chat model to propose tasks as JSON.

    Args:
        model: A `toolbrain_hub.models.chat.ChatModel` (or any object with `chat(messages, **kw)`).
        tools: The tool set.
        temperature: Sampling temperature (> 0 for variety).
        max_new_tokens: Reply budget.
        workers: Threads for models without batched generation (endpoints); local models batch instead.
        max_prompt_tools: At most this many tools shown in one prompt (the targets first).
        should_stop: Ends a local model's generation at the next token once it returns True (see `stopping`).
    """

    def __init__(self, model: Any, tools: list[ToolSpec], *, temperature: float = 0.7, max_new_tokens: int = 256,
                 workers: int = 2, max_prompt_tools: int = 8, should_stop: Any = None):
        self.model = model
        self.should_stop = should_stop
        self.name = public_model_name(getattr(model, "model_id", "") or type(model).__name__)
        self.tools = {t.name: t for t in tools}
        self.temperature = temperature
        self.max_new_tokens = max_new_tokens
        self.workers = max(1, workers)
        self.max_prompt_tools = max_prompt_tools
        self.sampler = ArgumentSampler()
        self.calls = 0

    def messages(self, slot: Slot, rng: random.Random) -> tuple[list[dict], str]:
        """The prompt for a slot, and the placeholder query of the answer format it shows."""
        others = [n for n in self.tools if n not in slot.tools]
        rng.shuffle(others)
        shown = list(dict.fromkeys(slot.tools + others))[: max(self.max_prompt_tools, len(slot.tools))]
        listing = "\n".join(json.dumps(self.tools[n].to_openai()["function"], ensure_ascii=False) for n in shown)
        # A template with placeholders, not a worked example: small models copy examples verbatim (measured with
        # the default 0.5B model: 19 of 20 replies were the example), and a copied placeholder is easy to reject.
        if slot.kind == "no_tool":
            ask = ("a message from a user that needs NO tool: small talk, or a general question none of these tools "
                   "can help with.")
            query = "<the user's message>"
            fmt = f'{{"query": "{query}", "expected_calls": [], "gold_answer": "<the answer if it is a fact, else ' \
                  'empty>"}'
        else:
            if slot.kind == "parallel":
                named = " and ".join(f"`{n}`" for n in slot.tools)
                ask = (f"a realistic user request that needs {len(slot.tools)} independent calls made together in one "
                       f"turn: {named} (one tool listed twice: the same tool with different arguments). The request "
                       "must state every argument value the calls use; arguments must follow the tools' JSON Schema.")
            else:
                named = " and then ".join(f"`{n}`" for n in slot.tools)
                needs = "one call to " if slot.kind == "single" else "a call to "
                ask = (f"a realistic user request that needs {needs}{named}. The request must state every argument "
                       f"value the call{'s' if len(slot.tools) > 1 else ''} use; arguments must follow the tool's "
                       "JSON Schema.")
            hints = self._value_hints(slot, rng)
            if hints:
                ask += f"\nValid argument values you may use (or choose other valid ones): {hints}"
            query = "<the user request, in plain English>"
            fmt = f'{{"query": "{query}", "expected_calls": [{{"name": "<tool>", "arguments": {{<arguments>}}}}]}}'
        user = f"Tools:\n{listing}\n\nWrite {ask}\n\nAnswer with only a JSON object:\n{fmt}"
        return [{"role": "system", "content": LLM_SYSTEM_PROMPT}, {"role": "user", "content": user}], query

    def _value_hints(self, slot: Slot, rng: random.Random) -> str:
        # Sampled valid values ground weak models (which otherwise invent out-of-schema ones); strong models may
        # ignore them. The model still writes the request and picks the arguments.
        parts = []
        for name in slot.tools:
            try:
                args = self.sampler.arguments(self.tools[name], random.Random(rng.random()))
            except SamplingError:
                continue
            parts.append(f"{json.dumps(args, ensure_ascii=False)} for {name}")
        return "; ".join(parts)

    def propose(self, slots: list[Slot], rng: random.Random, feedback: list[Candidate | None] | None = None
                ) -> list[Candidate]:
        from ..models.chat import ChatError

        conversations, examples = [], []
        for i, slot in enumerate(slots):
            previous = feedback[i] if feedback else None
            if previous is not None and previous.conversation:
                # A retry continues the same conversation with the reason, so the model can fix its own answer.
                messages, example = list(previous.conversation), previous.example_query
                if previous.raw:
                    messages += [{"role": "assistant", "content": previous.raw[:2000]},
                                 {"role": "user", "content": f"That is not valid ({previous.error}). Answer again "
                                                             "with only the corrected JSON object."}]
            else:
                messages, example = self.messages(slot, rng)
            conversations.append(messages)
            examples.append(example)
        seed = rng.randint(0, 2**31 - 1)
        kwargs = {"max_new_tokens": self.max_new_tokens, "temperature": self.temperature, "seed": seed}
        self.calls += len(conversations)
        try:
            replies = chat_all(self.model, conversations, kwargs, workers=self.workers,
                               should_stop=self.should_stop)
        except ChatError as e:
            return [Candidate(error=f"model_error: {e}", conversation=c, example_query=x)
                    for c, x in zip(conversations, examples, strict=True)]
        out = []
        for reply, messages, example, slot in zip(replies, conversations, examples, slots, strict=True):
            cand = parse_proposal(getattr(reply, "text", reply))
            cand.conversation, cand.example_query = messages, example
            cand.kind = slot.kind if slot.kind in ("parallel", "multi") else None
            if cand.error is None and similarity(cand.query, example) >= 0.8:
                # Small models copy the one-shot example; that is not a new task.
                cand.error = "copied_example: the reply repeats the answer format's placeholder"
            out.append(cand)
        return out



def chat_all(model: Any, conversations: list[list[dict]], kwargs: dict, *, workers: int = 1,
             should_stop: Any = None) -> list[Any]:
    """One reply per conversation: a local model batches them, an endpoint gets `workers` requests at a time.

    Args:
        model: A `ChatModel` (or any object with `chat(messages, **kw)`).
        conversations: The prompts.
        kwargs: Generation settings (max_new_tokens, temperature, seed).
        workers: Parallel requests for models without batched generation.
        should_stop: Ends a local model's generation at the next token once it returns True.
    """
    from ..models.chat import LocalChatModel

    if isinstance(model, LocalChatModel):
        return model.chat_batch(conversations, should_stop=should_stop, **kwargs)
    if workers == 1 or len(conversations) == 1:
        if hasattr(model, "chat_batch"):
            return model.chat_batch(conversations, **kwargs)
        return [model.chat(m, **kwargs) for m in conversations]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda m: model.chat(m, **kwargs), conversations))


# Filler words ignored when comparing requests: "Could you get the weather for Paris?" and "Please get the weather
# for Paris, thanks" are the same task.
_FILLER = set("""a an the please could can would will you me i i'd i'm id to for of and then also first
next after that kindly help hey hi hello thanks thank quick request need want like let's lets go ahead when get
chance right away if possible is are what's whats what tell know do show give my some just with""".split())


def normalize_query(text: str) -> str:
    """Lowercase words and numbers of a request, punctuation dropped (for exact-duplicate checks)."""
    return " ".join(re.findall(r"[a-z0-9@./:+-]+", text.lower().replace("'", "")))


def content_tokens(text: str) -> frozenset[str]:
    """The words of a request that carry its meaning (filler and politeness removed)."""
    return frozenset(w.strip(".:") for w in normalize_query(text).split() if w.strip(".:") not in _FILLER)


def similarity(a: str, b: str) -> float:
    """Token-set (Jaccard) similarity of two requests' content words."""
    ta, tb = content_tokens(a), content_tokens(b)
    return len(ta & tb) / len(ta | tb) if ta | tb else 1.0


def public_model_name(model_id: str) -> str:
    """A model id safe to publish in a dataset: URLs lose user:password@ and query strings (may hold keys)."""
    if not model_id.startswith(("http://", "https://")):
        return model_id
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(model_id)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", parts.fragment))


def parse_proposal(text: str) -> Candidate:
    """Read `{query, expected_calls, gold_answer}` from a model reply, leniently (aliases, fences, string args)."""
    raw = text or ""
    try:
        data = extract_json_object(raw)
    except ValueError as e:
        return Candidate(error=f"unparseable: {e}", raw=raw)
    query = data.get("query", data.get("request", data.get("user_query", data.get("question"))))
    if not isinstance(query, str) or not query.strip():
        return Candidate(error='missing_query: no "query" string in the JSON', raw=raw)
    calls_value = data.get("expected_calls", data.get("calls", data.get("tool_calls", [])))
    if isinstance(calls_value, dict):
        calls_value = [calls_value]
    if not isinstance(calls_value, list):
        return Candidate(error='bad_calls: "expected_calls" must be a list', raw=raw)
    calls = []
    for i, item in enumerate(calls_value):
        call, error = call_from_json(item, f"expected_calls[{i}]")
        if error:
            return Candidate(error=f"bad_calls: {error}", raw=raw)
        calls.append({"name": call.name, "arguments": call.arguments})
    gold = data.get("gold_answer", data.get("answer", ""))
    gold = "" if gold is None else gold if isinstance(gold, str) else json.dumps(gold)
    if re.fullmatch(r"\s*<[^<>]*>\s*", gold):  # the format's placeholder, copied
        gold = ""
    return Candidate(query=" ".join(query.split()), expected_calls=calls, gold_answer=gold.strip(), raw=raw)

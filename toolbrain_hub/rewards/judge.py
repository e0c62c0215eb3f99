"""The LLM group judge: one judge call scores every trace of a task's group against each other.

After the ToolBrain paper's ranking judge and OpenPipe ART's RULER: comparing the rollouts of one task side by side
gives the relative scores GRPO needs, without a reference policy or hand-written reward. The judge is any
`ChatModel` (a local model, or an OpenAI-compatible endpoint: `toolbrain_hub.models.chat.EndpointChatModel`).

Failures are loud. The reply must be JSON holding exactly one in-range score per trace id; anything else (prose,
7 scores for 8 traces, a score of 7 on a 0-1 scale, a timeout) is retried with the problem shown to the judge, and
after the last retry `JudgeError` is raised, unless a fallback was configured, which is then logged and counted in
`judge.stats`. There is no silent default score.

```python
judge = GroupJudge("https://router.huggingface.co/v1#Qwen/Qwen2.5-72B-Instruct", fallback=None)
result = judge.score_group({"query": "...", "expected_calls": [...]}, traces)
result.scores          # one float in [0, 1] per trace
trainer = GRPOTrainer(..., reward_funcs=[judge.as_reward_func()])
```
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from ..errors import ToolBrainError
from ..models.chat import ChatError, ChatModel, ChatTimeout, get_chat_model
from ..traces.json_reply import extract_json
from ..traces.trace import Trace

logger = logging.getLogger(__name__)

# Bump when the prompt or reply format changes, so cached judgments of the old prompt are not reused.
PROMPT_VERSION = "1"

DEFAULT_RUBRIC = """\
- A trace that completes the task must score clearly higher than one that does not.
- Calling the right tools with correct arguments matters most; invented tools, invalid arguments and calls that
  were not needed count against a trace.
- A final answer must be supported by the tool results; a confident answer that the tool results do not support
  is worse than an honest "I could not find it".
- Between traces that both succeed, the one with fewer wasted steps or repeated calls scores higher.
- Give partial credit for real progress. Small differences in quality deserve small differences in score."""

_SYSTEM = """\
You are a strict, impartial judge of AI agents that use tools. You will see one task and {n} attempts at it
(traces), each with an id. Compare the traces with each other and give each one a score from 0 to 1.

Rubric:
{rubric}

Reply with only a JSON object, no other text, in exactly this form:
{{"scores": [{{"trace_id": "1", "explanation": "<one short sentence>", "score": <number from 0 to 1>}}, ...]}}
The list must hold exactly {n} entries, one for each trace id ({ids}), each id once."""


class JudgeError(ToolBrainError, RuntimeError):
    """The judge gave no valid scores after all attempts (and no fallback was configured)."""


@dataclass
class JudgeResult:
    """The judgment of one group of traces.

    `attempts`, `latency_s` and the token counts are what this call cost (zero for a cache hit).
    """

    scores: list[float]
    reasons: list[str]
    attempts: int = 1
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False
    fallback_used: bool = False
    error: str | None = None  # why the fallback was used
    model_id: str = ""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> JudgeResult:
        return cls(**data)


@dataclass
class JudgeStats:
    """Running counters of one judge, for logs and training metrics."""

    groups: int = 0  # score_group calls
    calls: int = 0  # chat requests sent to the judge model
    retries: int = 0  # requests after the first for a group
    timeouts: int = 0
    failures: int = 0  # groups with no valid scores after all attempts
    fallbacks: int = 0  # failures answered by the configured fallback
    cache_hits: int = 0
    latency_s: float = 0.0  # total over requests
    prompt_tokens: int = 0
    completion_tokens: int = 0
    score_sum: float = 0.0  # over valid (judged) scores, for the "mean" fallback
    score_count: int = 0

    def snapshot(self) -> JudgeStats:
        """A copy of the counters now (to log what one batch cost: `log_judge_stats`)."""
        return JudgeStats(**asdict(self))

    @property
    def mean_latency_s(self) -> float:
        return self.latency_s / self.calls if self.calls else 0.0

    @property
    def mean_score(self) -> float | None:
        return self.score_sum / self.score_count if self.score_count else None

    def to_dict(self) -> dict:
        return {**asdict(self), "mean_latency_s": self.mean_latency_s, "mean_score": self.mean_score}


# The counters a judge's TRL reward function logs per batch, as `<name>/<counter>`.
LOGGED_STATS = ("calls", "retries", "timeouts", "failures", "fallbacks", "cache_hits", "prompt_tokens",
                "completion_tokens", "latency_s")


def log_judge_stats(log_metric: Any, name: str, before: JudgeStats, after: JudgeStats) -> None:
    """Log what a batch cost the judge (`after` - `before` of each of `LOGGED_STATS`) through TRL's `log_metric`.

    Args:
        log_metric: TRL's `log_metric(key, value)` reward argument; nothing is logged when it is not callable.
        name: The reward's name (the metrics' prefix).
        before: The judge's counters before the batch (`JudgeStats.snapshot`).
        after: Its counters now.
    """
    if callable(log_metric):
        for field_name in LOGGED_STATS:
            log_metric(f"{name}/{field_name}", float(getattr(after, field_name) - getattr(before, field_name)))


def judgment_key(version: str, model_id: str, temperature: float, messages: list[dict]) -> str:
    """The cache key of one judgment: a hash of the prompt version, the judge model and exactly what it is asked.

    Args:
        version: The judge's prompt version (bumped when its prompt or reply format changes).
        model_id: The judge model's id.
        temperature: Its sampling temperature.
        messages: The prompt.
    """
    payload = json.dumps([version, model_id, temperature, messages], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


@dataclass
class Asked:
    """What asking a judge model with retries gave (`ask_with_retries`).

    Args:
        value: The parsed reply of the attempt that succeeded; None when none did (`ok` is False).
        ok: Whether an attempt gave a valid reply.
        attempts: Requests sent.
        latency_s: Seconds from the first request to the end.
        prompt_tokens: Prompt tokens over all attempts.
        completion_tokens: Reply tokens over all attempts.
        errors: Why each failed attempt failed ("attempt 2: invalid reply: ..."), for the error or fallback message.
    """

    value: Any = None
    ok: bool = False
    attempts: int = 0
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    errors: list[str] = field(default_factory=list)


def ask_with_retries(model: ChatModel, messages: list[dict], parse: Callable[[str], Any],
                     retry_prompt: Callable[[str], str], *, stats: JudgeStats, max_retries: int, max_new_tokens: int,
                     temperature: float, timeout: float | None, model_id: str) -> Asked:
    """Ask a judge model until `parse` accepts its reply, at most `1 + max_retries` times; the one retry loop of
    every judge (the group judge, the answer judge).

    A timeout or an endpoint error is retried with the same prompt; an invalid reply (`parse` raised ValueError) is
    shown back to the model with `retry_prompt(problem)` as the next user message. Each attempt is logged and
    counted in `stats` (calls, retries, timeouts, latency, tokens); failures are not counted there (the caller
    decides: raise, or use a fallback).

    Args:
        model: The judge model.
        messages: The prompt.
        parse: Reads a reply; raises ValueError naming what is wrong with it.
        retry_prompt: The message that asks again after an invalid reply, given the problem.
        stats: The judge's counters, updated in place.
        max_retries: Extra attempts after the first.
        max_new_tokens: Reply budget.
        temperature: Sampling temperature.
        timeout: Seconds per request (endpoints).
        model_id: The judge's name in log messages.
    """
    asked = Asked()
    conversation = list(messages)
    start = time.perf_counter()
    for attempt in range(1, max_retries + 2):
        if attempt > 1:
            stats.retries += 1
        stats.calls += 1
        asked.attempts = attempt
        call_start = time.perf_counter()
        try:
            reply = model.chat(conversation, max_new_tokens=max_new_tokens, temperature=temperature, timeout=timeout)
        except ChatTimeout as e:
            stats.timeouts += 1
            stats.latency_s += time.perf_counter() - call_start
            asked.errors.append(f"attempt {attempt}: timed out ({e})")
            logger.warning("Judge %s: attempt %d timed out", model_id, attempt)
            continue
        except ChatError as e:
            stats.latency_s += time.perf_counter() - call_start
            asked.errors.append(f"attempt {attempt}: endpoint error ({e})")
            logger.warning("Judge %s: attempt %d failed: %s", model_id, attempt, e)
            continue
        stats.latency_s += reply.latency_s or time.perf_counter() - call_start
        stats.prompt_tokens += reply.prompt_tokens
        stats.completion_tokens += reply.completion_tokens
        asked.prompt_tokens += reply.prompt_tokens
        asked.completion_tokens += reply.completion_tokens
        try:
            asked.value = parse(reply.text)
        except ValueError as e:
            asked.errors.append(f"attempt {attempt}: invalid reply: {e}")
            logger.warning("Judge %s: attempt %d gave an invalid reply: %s", model_id, attempt, e)
            # Show the judge its own reply and what was wrong with it, then ask again.
            conversation = [*messages, {"role": "assistant", "content": reply.text},
                            {"role": "user", "content": retry_prompt(str(e))}]
            continue
        asked.ok = True
        break
    asked.latency_s = time.perf_counter() - start
    return asked


def render_trace(trace: Any, max_chars: int | None = None, query: str | None = None) -> str:
    """Text of one trace for the judge prompt.

    A `traces.Trace` (anything with `render()`) renders itself; a list of chat messages (TRL's conversational
    completion) becomes a `Trace` first, so calls written as bare JSON or malformed tags show up as such; a string is
    used as is; other objects go through `to_dict()` and JSON.

    Args:
        trace: The trace.
        max_chars: Cut the middle of longer texts (the start and end of an episode say the most).
        query: The task's query, for traces built from messages that lack the user turn.
    """
    if isinstance(trace, list) and all(isinstance(m, dict) and "role" in m for m in trace):
        trace = Trace.from_messages(trace, query=query)
    if hasattr(trace, "render"):
        # The task is shown once above all traces; don't repeat it in each.
        text = trace.render().removeprefix(f"Task: {query}\n" if query else "")
    elif isinstance(trace, str):
        text = trace
    else:
        data = trace.to_dict() if hasattr(trace, "to_dict") else trace
        text = json.dumps(data, ensure_ascii=False, indent=1, default=str)
    if max_chars and len(text) > max_chars:
        half = max_chars // 2
        text = f"{text[:half]}\n... [{len(text) - 2 * half} characters cut] ...\n{text[-half:]}"
    return text


_QUERY_KEYS = ("query", "question", "prompt", "task")
_ANSWER_KEYS = ("answer", "expected_answer", "gold_answer", "reference_answer")


def task_query(task: Any) -> str:
    """The task's request: a string task itself, else its first query/question/prompt/task field (for a chat
    prompt, the last user message)."""
    if isinstance(task, str):
        return task
    data = task.to_dict() if hasattr(task, "to_dict") else dict(task)
    query = next((data[k] for k in _QUERY_KEYS if data.get(k)), None)
    if query is None:
        raise ValueError(f"The judge needs the task's query: none of {', '.join(_QUERY_KEYS)} in {sorted(data)}")
    if isinstance(query, list):  # a chat prompt: the last user message is the request
        users = [m.get("content", "") for m in query if isinstance(m, dict) and m.get("role") == "user"]
        query = users[-1] if users else json.dumps(query, ensure_ascii=False)
    return str(query)


def render_task(task: Any) -> str:
    """Text of the task for the judge: the query, and the expected calls and gold answer when known.

    Args:
        task: A string (the query), a dict, or an object with `to_dict()` (e.g. a generated task). Reads the first of
            query/question/prompt/task, `expected_calls` (list or JSON string) and answer/expected_answer/gold_answer.
    """
    if isinstance(task, str):
        return f"Task: {task}"
    data = task.to_dict() if hasattr(task, "to_dict") else dict(task)
    parts = [f"Task: {task_query(data)}"]
    calls = data.get("expected_calls")
    if isinstance(calls, str) and calls.strip():
        try:
            calls = json.loads(calls)
        except json.JSONDecodeError:
            pass  # shown as given
    if calls not in (None, "", []):
        shown = calls if isinstance(calls, str) else json.dumps(calls, ensure_ascii=False)
        parts.append(f"Expected tool calls (a reference; other correct ways may exist): {shown}")
    elif calls == []:
        parts.append("Expected tool calls: none (the task needs no tool).")
    answer = next((data[k] for k in _ANSWER_KEYS if data.get(k) not in (None, "")), None)
    if answer is not None:
        parts.append(f"Expected answer (a reference): {answer}")
    return "\n".join(parts)


def parse_scores(text: str, ids: list[str]) -> tuple[list[float], list[str]]:
    """Strictly parse a judge reply into one score and one reason per trace id, in `ids` order.

    The reply must be a JSON object `{"scores": [{"trace_id", "score", "explanation"}, ...]}` (alone, or alone in
    one ```json fence, optionally after a <think> block) with exactly one numeric score in [0, 1] per id.

    Raises:
        ValueError: naming every problem found (invalid JSON, missing/extra/duplicate ids, bad or out-of-range
            scores), so the message can be shown to the judge on retry.
    """
    data = extract_json(text, strict=True)
    if not isinstance(data, dict) or not isinstance(data.get("scores"), list):
        raise ValueError('the reply must be a JSON object with a "scores" list')
    entries = data["scores"]
    problems: list[str] = []
    scores: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for pos, entry in enumerate(entries, 1):
        if not isinstance(entry, dict):
            problems.append(f"entry {pos} is not an object")
            continue
        raw_id = entry.get("trace_id")
        if isinstance(raw_id, bool) or not isinstance(raw_id, str | int):
            problems.append(f"entry {pos} has no valid trace_id")
            continue
        tid = str(raw_id).strip()
        if tid not in ids:
            problems.append(f"entry {pos} has unknown trace_id {tid!r}")
            continue
        if tid in scores:
            problems.append(f"trace {tid} is scored more than once")
            continue
        score = entry.get("score")
        if isinstance(score, bool) or not isinstance(score, int | float):
            problems.append(f"trace {tid}: score {score!r} is not a number")
            continue
        if not math.isfinite(score) or not 0.0 <= score <= 1.0:
            problems.append(f"trace {tid}: score {score} is outside [0, 1]")
            continue
        scores[tid] = float(score)
        reasons[tid] = str(entry.get("explanation") or "")
    scored_ids = {str(e.get("trace_id")).strip() for e in entries if isinstance(e, dict)}
    missing = [i for i in ids if i not in scored_ids]
    if len(entries) != len(ids) or missing:
        head = f"expected {len(ids)} scores (trace ids {', '.join(ids)}), got {len(entries)}"
        problems.insert(0, head + (f"; missing trace {', '.join(missing)}" if missing else ""))
    if problems:
        raise ValueError("; ".join(problems))
    return [scores[i] for i in ids], [reasons[i] for i in ids]


class GroupJudge:
    """Scores all traces of one task together with an LLM, strictly.

    Args:
        model: A `ChatModel`, or a spec for `chat.get_chat_model`: an http(s) endpoint URL (optionally
            "url#model-name"), a built-in model name, a folder or a Hub id.
        rubric: Scoring guidance shown to the judge (default: `DEFAULT_RUBRIC`).
        max_retries: Extra attempts after an invalid reply, a timeout or an endpoint error.
        fallback: What to do when every attempt failed: None raises `JudgeError`; "mean" gives every trace the
            mean of all valid scores this judge has given so far (0.5 before its first valid judgment); a float in
            [0, 1] gives every trace that value. Either way it is logged as a warning and counted in `stats`.
        cache: Reuse judgments of an identical (judge, rubric, task, traces) group instead of asking again.
        timeout: Seconds per judge request (endpoints; a timeout counts as a failed attempt).
        max_new_tokens: Reply budget (default: 64 + 64 per trace).
        temperature: Judge sampling temperature (0: greedy).
        max_trace_chars: Longer traces are cut in the middle to this many characters.
        token: Bearer token for an endpoint spec (never logged or cached).
    """

    def __init__(self, model: ChatModel | str, rubric: str | None = None, *, max_retries: int = 2,
                 fallback: str | float | None = None, cache: bool = True, timeout: float = 120.0,
                 max_new_tokens: int | None = None, temperature: float = 0.0, max_trace_chars: int = 6000,
                 token: str | None = None):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if fallback is not None and fallback != "mean":
            if isinstance(fallback, bool) or not isinstance(fallback, int | float) or not 0.0 <= fallback <= 1.0:
                raise ValueError(f"fallback must be None, 'mean' or a number in [0, 1], got {fallback!r}")
            fallback = float(fallback)
        self.model = get_chat_model(model, token=token, timeout=timeout)
        self.rubric = (rubric or DEFAULT_RUBRIC).strip()
        self.max_retries = max_retries
        self.fallback = fallback
        self.cache_enabled = cache
        self.timeout = timeout
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.max_trace_chars = max_trace_chars
        self.stats = JudgeStats()
        self._cache: dict[str, JudgeResult] = {}

    @property
    def model_id(self) -> str:
        return getattr(self.model, "model_id", "") or type(self.model).__name__

    def build_messages(self, task: Any, traces: list[Any]) -> list[dict]:
        """The judge's prompt for one group: system (rubric, reply format) and user (task, traces)."""
        ids = [str(i) for i in range(1, len(traces) + 1)]
        system = _SYSTEM.format(n=len(traces), rubric=self.rubric, ids=", ".join(ids))
        blocks = [render_task(task), ""]
        query = task_query(task)
        for tid, trace in zip(ids, traces, strict=True):
            blocks += [f'<trace id="{tid}">', render_trace(trace, self.max_trace_chars, query), "</trace>", ""]
        blocks.append(f"Score all {len(traces)} traces (ids {', '.join(ids)}). Reply with the JSON object only.")
        return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(blocks)}]

    def cache_key(self, messages: list[dict]) -> str:
        """Hash of the judge model id and exactly what it is asked (rubric, task and traces are in the prompt)."""
        return judgment_key(PROMPT_VERSION, self.model_id, self.temperature, messages)

    def score_group(self, task: Any, traces: list[Any]) -> JudgeResult:
        """Score every trace of one task's group.

        Args:
            task: The task: a query string, a dict or an object with `to_dict()` (see `render_task`).
            traces: The group's traces: `Trace` objects, lists of chat messages, strings or dicts.

        Returns:
            A `JudgeResult` with one score in [0, 1] per trace, in order.

        Raises:
            JudgeError: no valid reply after `1 + max_retries` attempts and no fallback configured.
        """
        traces = list(traces)
        if not traces:
            raise ValueError("score_group needs at least one trace")
        self.stats.groups += 1
        messages = self.build_messages(task, traces)
        key = self.cache_key(messages)
        if self.cache_enabled and key in self._cache:
            self.stats.cache_hits += 1
            stored = self._cache[key]
            return replace(stored, scores=list(stored.scores), reasons=list(stored.reasons), attempts=0,
                           latency_s=0.0, prompt_tokens=0, completion_tokens=0, cached=True)

        ids = [str(i) for i in range(1, len(traces) + 1)]

        def retry_prompt(problem: str) -> str:
            return (f"Your reply was rejected: {problem}. Reply again with only the JSON object, with exactly "
                    f"{len(ids)} entries (trace ids {', '.join(ids)}), each score a number from 0 to 1.")

        asked = ask_with_retries(self.model, messages, lambda text: parse_scores(text, ids), retry_prompt,
                                 stats=self.stats, max_retries=self.max_retries, timeout=self.timeout,
                                 max_new_tokens=self.max_new_tokens or 64 + 64 * len(traces),
                                 temperature=self.temperature, model_id=self.model_id)
        prompt_tokens, completion_tokens, errors = asked.prompt_tokens, asked.completion_tokens, asked.errors
        if asked.ok:
            scores, reasons = asked.value
            result = JudgeResult(scores=scores, reasons=reasons, attempts=asked.attempts, latency_s=asked.latency_s,
                                 prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                                 model_id=self.model_id)
            self.stats.score_sum += sum(scores)
            self.stats.score_count += len(scores)
            if self.cache_enabled:
                self._cache[key] = result
            logger.info("Judge %s scored %d traces in %.2f s (%d attempt(s), %d+%d tokens)", self.model_id,
                        len(traces), result.latency_s, asked.attempts, prompt_tokens, completion_tokens)
            return result

        self.stats.failures += 1
        attempts = self.max_retries + 1
        summary = (f"Judge {self.model_id} gave no valid scores for a group of {len(traces)} traces after "
                   f"{attempts} attempt(s): " + " | ".join(errors))
        if self.fallback is None:
            raise JudgeError(summary)
        if isinstance(self.fallback, float):
            value = self.fallback
        else:
            value = self.stats.mean_score if self.stats.mean_score is not None else 0.5
        self.stats.fallbacks += 1
        logger.warning("%s. Using the configured fallback (%s): %.3f for every trace (fallback #%d).", summary,
                       self.fallback, value, self.stats.fallbacks)
        return JudgeResult(scores=[value] * len(traces), reasons=["fallback: judge failed"] * len(traces),
                           attempts=attempts, latency_s=asked.latency_s, prompt_tokens=prompt_tokens,
                           completion_tokens=completion_tokens, fallback_used=True, error=summary,
                           model_id=self.model_id)

    def as_reward_func(self, name: str = "llm_judge") -> Callable[..., list[float]]:
        """A TRL reward function that judges each prompt's group of completions in one call.

        TRL passes `num_generations` consecutive completions per prompt; consecutive equal prompts form a group.
        The task is read from the dataset columns TRL passes (query, expected_calls, answer...), falling back to
        the prompt's last user message. Judge latency, tokens, retries and fallbacks go to TRL's metrics through
        `log_metric` (as `<name>/...`), and the judge's reasons to the completions table through `log_extra`.

        Args:
            name: The function's `__name__`, under which TRL logs its reward.
        """
        skip = {"trainer_state", "log_extra", "log_metric", "environments", "completion_ids"}

        def reward(prompts: list, completions: list, **kwargs) -> list[float]:
            n = len(completions)
            columns = {k: v for k, v in kwargs.items() if k not in skip and isinstance(v, list) and len(v) == n}
            scores: list[float] = [0.0] * n
            reasons: list[str] = [""] * n
            before = self.stats.snapshot()
            start = 0
            while start < n:
                end = start + 1
                while end < n and prompts[end] == prompts[start]:
                    end += 1
                task = {k: v[start] for k, v in columns.items()}
                if not any(task.get(k) for k in _QUERY_KEYS):
                    task["prompt"] = prompts[start]
                result = self.score_group(task, completions[start:end])
                scores[start:end] = result.scores
                reasons[start:end] = result.reasons
                start = end
            log_metric, log_extra = kwargs.get("log_metric"), kwargs.get("log_extra")
            log_judge_stats(log_metric, name, before, self.stats)
            if callable(log_extra):
                log_extra(f"{name}_reason", reasons)
            return scores

        reward.__name__ = name
        reward.__qualname__ = name
        return reward

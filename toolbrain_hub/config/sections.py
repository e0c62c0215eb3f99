"""The two nested sections of a training config: `lora` (the adapter) and `judge` (an LLM judge as a reward).

In YAML they are mappings (`lora: {r: 8}`), on the command line dotted fields (`--lora.r 8`, `--judge.model URL`).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import checks
from .checks import setting
from .helptext import documented

__all__ = ["JudgeSettings", "LoraSettings"]


@documented
@dataclass
class LoraSettings:
    """LoRA adapter settings (QLoRA when `quantization` is 4bit or 8bit)."""

    r: int = setting(16, help="Rank of the update matrices.", check=checks.positive_int)
    alpha: int = setting(32, help="Scaling numerator: the update is scaled by alpha / r.", check=checks.positive)
    dropout: float = setting(0.05, help="Dropout on the LoRA input, in [0, 1).",
                             check=checks.between(0.0, 1.0, high_open=True))
    target_modules: list[str] = setting(
        factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"],
        help="Module names to adapt (a list, or a,b,c on the command line), or [all-linear].",
        check=checks.module_names)


@documented
@dataclass
class JudgeSettings:
    """An LLM judge used as an extra reward: the group judge (`rewards.judge.GroupJudge`, scores each episode of a
    group against the others) or the answer judge (`rewards.answer_judge.AnswerJudge`, labels each final answer
    CORRECT / INCORRECT / NO_ANSWER against the task's gold answer, and the answer ladder turns the label into the
    reward: the email-search agent's judge)."""

    kind: str = setting("group", help="group: score the episodes of a group 0-1 by a rubric; answer: label each "
                                      "final answer against the gold answer and reward it by the answer ladder.",
                        check=checks.choice("group", "answer"))
    model: str = setting("", help="A local model (built-in name, folder, Hub id) or an OpenAI-compatible endpoint "
                                  "URL (url#model).", check=checks.model_ref)
    weight: float = setting(1.0, help="Weight of the judge's score in the total reward.", check=checks.number)
    rubric: str | None = setting(None, help="Scoring guidance for the group judge (default: its built-in rubric).")
    max_retries: int = setting(2, help="Extra attempts after an invalid reply or a timeout.", check=checks.whole(0))
    fallback: str | float | None = setting(
        None, help="When the judge gives no valid reply: none (fail loudly); for the group judge mean or a number in "
                   "[0, 1], for the answer judge a label (CORRECT, INCORRECT, NO_ANSWER).",
        check=checks.fallback)

    def __post_init__(self):
        from ..errors import ConfigError

        label = isinstance(self.fallback, str) and self.fallback != "mean"
        if self.kind == "answer" and self.rubric is not None:
            raise ConfigError("judge.rubric is for the group judge (judge.kind: group); the answer judge compares "
                              "each answer with the task's gold answer")
        if self.kind == "answer" and self.fallback is not None and not label:
            raise ConfigError(f"judge.fallback: the answer judge falls back to a label (CORRECT, INCORRECT, "
                              f"NO_ANSWER), got {self.fallback!r}")
        if self.kind == "group" and label:
            raise ConfigError(f"judge.fallback: the group judge falls back to 'mean' or a number in [0, 1], got "
                              f"{self.fallback!r} (labels are for judge.kind: answer)")
    timeout: float = setting(120.0, help="Seconds per judge request.", check=checks.positive)
    audit: int = setting(8, help="Answer judge: before training, check its labels on this many training questions "
                                 "(cases whose right label is known; the result goes to judge_audit.json and a "
                                 "warning when agreement is low); 0: no audit.", check=checks.whole(0))
    token_env: str | None = setting(
        None, help="Environment variable holding the endpoint's token (default: TOOLBRAIN_ENDPOINT_TOKEN); the token "
                   "itself never goes in a config.", check=checks.env_name)

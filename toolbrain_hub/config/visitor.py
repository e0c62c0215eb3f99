"""What an untrusted visitor of a public Space may set: one allow-list, checked on every route.

On a public Space everything a visitor sends (form fields, the extra-options box, files, direct API calls) is data.
A visitor may choose data (tool schemas, tasks, their own folders, Hub repos), a model from an allowed set, the
algorithm and numeric knobs. Nothing a visitor sends may name code to run (tool implementations, an MCP server
command, a `module:function` reward), a server path outside the visitor's own folders, an arbitrary URL (an
endpoint could be a service inside the Space's network), or an environment variable (it could be a Space secret).

Locally the app has one trusted user and no `VisitorPolicy` applies. An operator opens more with environment
variables of the Space:

- `TOOLBRAIN_HUB_ALLOWED_MODELS`: comma-separated models visitors may use besides the built-ins (Hub repo ids or
  folders), or `*` for any Hub repo id.
- `TOOLBRAIN_HUB_ALLOWED_ENDPOINTS`: comma-separated OpenAI-compatible base URLs visitors may use for the judge,
  the teacher, the tool simulator and the task generator (matched on scheme, host, port and path prefix).

A training process started for a visitor runs with `TOOLBRAIN_HUB_UNTRUSTED=1`; `check_untrusted_config` refuses
code-bearing fields there too, so a config that reached a run by any other way still runs no visitor code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, is_dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import ConfigError
from .base import TrainConfig, config_classes

__all__ = ["UNTRUSTED_ENV", "VisitorError", "VisitorPolicy", "check_untrusted_config", "config_field_names"]

UNTRUSTED_ENV = "TOOLBRAIN_HUB_UNTRUSTED"
ALLOWED_MODELS_ENV = "TOOLBRAIN_HUB_ALLOWED_MODELS"
ALLOWED_ENDPOINTS_ENV = "TOOLBRAIN_HUB_ALLOWED_ENDPOINTS"

# Fields that name code, a command, a server location or an environment variable: a visitor leaves them unset.
CODE_FIELDS = {
    "implementations": "runs Python code on the server",
    "mcp_server": "starts a command or connects to a server from the Space",
    "output_dir": "names a folder on the server (the app picks the run folder)",
    "resume": "continues a run folder on the server",
    "teacher_token_env": "names an environment variable of the Space (its secrets live there)",
    "judge.token_env": "names an environment variable of the Space (its secrets live there)",
}
# Fields holding a model: a built-in, an operator-allowed model, or an operator-allowed endpoint.
MODEL_FIELDS = ("model", "teacher", "simulator", "judge.model")
# Fields holding data: one of the visitor's own folders, or a Hub repo id (read with the visitor's token).
DATA_FIELDS = ("tasks", "tools", "preferences", "traces")


class VisitorError(ConfigError):
    """A Space visitor asked for something only the operator may allow; the message names the field and why."""


@dataclass(frozen=True)
class VisitorPolicy:
    """The allow-list for one signed-in visitor of a public Space.

    Args:
        namespace: The visitor's Hugging Face username: Hub pushes go there only.
        folders: The visitor's own folders (datasets, agents, runs); other local paths are refused.
        models: Models allowed besides the built-ins (names, Hub repo ids or folders).
        any_hub_model: Any Hub model repo id is allowed (operator's `*`).
        endpoints: Allowed endpoint base URLs.
    """

    namespace: str
    folders: tuple[Path, ...] = ()
    models: frozenset[str] = frozenset()
    any_hub_model: bool = False
    endpoints: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, namespace: str, folders: list[Path] | tuple[Path, ...] = ()) -> VisitorPolicy:
        """The policy an operator configured with `TOOLBRAIN_HUB_ALLOWED_MODELS` / `..._ENDPOINTS`.

        Args:
            namespace: The visitor's username.
            folders: The visitor's own folders.
        """
        models = {m.strip() for m in os.environ.get(ALLOWED_MODELS_ENV, "").split(",") if m.strip()}
        endpoints = tuple(u.strip() for u in os.environ.get(ALLOWED_ENDPOINTS_ENV, "").split(",") if u.strip())
        return cls(namespace=namespace, folders=tuple(Path(f).resolve() for f in folders),
                   models=frozenset(models - {"*"}), any_hub_model="*" in models, endpoints=endpoints)

    # ----- single values -----

    def check_model(self, name: str, value: str | None) -> None:
        """A model field: a built-in, an operator-allowed model or Hub repo, or an operator-allowed endpoint.

        Raises:
            VisitorError: naming the field.
        """
        from ..hub.repos import is_local
        from ..models.builtin import BUILTIN_MODELS

        value = (value or "").strip()
        if not value or value in BUILTIN_MODELS or value in self.models:
            return
        if "://" in value:
            self.check_endpoint(name, value)
            return
        if not is_local(value) and "/" in value:
            if self.any_hub_model:
                return
            raise VisitorError(f"{name}: {value!r} is not one of this Space's models ({self._models_text()}); the "
                               f"Space's operator can allow more with {ALLOWED_MODELS_ENV}")
        self.check_folder(name, value)

    def check_endpoint(self, name: str, url: str) -> None:
        """An endpoint URL ("URL" or "URL#model"): allowed only when it lies under an operator-allowed base URL.

        Raises:
            VisitorError: naming the field.
        """
        if not any(_under(url, base) for base in self.endpoints):
            raise VisitorError(f"{name}: endpoint URLs are not allowed on this Space (the app would connect to "
                               f"{_shown(url)} from its own network); the Space's operator can allow endpoints with "
                               f"{ALLOWED_ENDPOINTS_ENV}")

    def check_folder(self, name: str, value: str) -> None:
        """A local path: allowed only inside one of the visitor's own folders (symlinks resolved).

        Raises:
            VisitorError: naming the field.
        """
        path = Path(value).expanduser().resolve()
        if not any(path == root or root in path.parents for root in self.folders):
            raise VisitorError(f"{name}: {value} is not one of your folders (your datasets, agents and runs only)")

    def check_data(self, name: str, value: str | None) -> None:
        """A data field: one of the visitor's folders or a Hub repo id.

        Raises:
            VisitorError: naming the field.
        """
        from ..hub.repos import is_local

        value = (value or "").strip()
        if not value:
            return
        if "://" in value:
            raise VisitorError(f"{name}: give a Hub repo id or one of your folders, not a URL")
        if is_local(value):
            self.check_folder(name, value)

    def check_push_to(self, name: str, repo_id: str | None) -> None:
        """A Hub repo to write to: only in the visitor's namespace.

        Raises:
            VisitorError: naming the field.
        """
        if repo_id and repo_id.split("/")[0] != self.namespace:
            raise VisitorError(f"{name} must be in your namespace ({self.namespace}/…), got {repo_id!r}")

    # ----- a whole training config -----

    def check_config(self, config: TrainConfig) -> TrainConfig:
        """Every field of a training config a visitor built (form, extra options or API); returns it.

        Raises:
            VisitorError: naming the first field a visitor may not set that way.
        """
        check_untrusted_config(config)
        for name in MODEL_FIELDS:
            self.check_model(name, _get(config, name))
        for name in DATA_FIELDS:
            self.check_data(name, _get(config, name))
        self.check_push_to("push_to", config.push_to)
        return config

    def _models_text(self) -> str:
        from ..models.builtin import BUILTIN_MODELS

        return ", ".join([*BUILTIN_MODELS, *sorted(self.models)])


def check_untrusted_config(config: TrainConfig, *, app_sets_output_dir: bool = False) -> None:
    """Refuse the fields that run code or read the server's environment; what a run for a visitor may never hold.

    Used by `VisitorPolicy.check_config` before a run is created, and by training itself when the process runs with
    `TOOLBRAIN_HUB_UNTRUSTED=1` (set by the Space's launcher).

    Args:
        config: The training config.
        app_sets_output_dir: The app has since put the run folder it chose into `output_dir` (inside training).

    Raises:
        VisitorError: naming the field.
    """
    defaults = type(config)()
    for name, why in CODE_FIELDS.items():
        if name == "output_dir" and app_sets_output_dir:
            continue
        value = _get(config, name)
        if value != _get(defaults, name) and value not in (None, "", False):
            raise VisitorError(f"{name} cannot be set on this Space: it {why}. Run toolbrain-hub on your own "
                               f"machine (or a Space you operate) to use it")
    for name in config.rewards:
        if ":" in str(name):
            raise VisitorError(f"rewards.{name}: custom 'module:function' rewards run Python code on the server and "
                               f"cannot be used on this Space; use the built-in rewards or the LLM judge")


def untrusted() -> bool:
    """This process trains for an untrusted visitor (`TOOLBRAIN_HUB_UNTRUSTED=1`)."""
    return os.environ.get(UNTRUSTED_ENV, "") not in ("", "0")


def _get(config: Any, dotted: str) -> Any:
    """A (dotted) field's value; a field of another algorithm's config counts too, with the value it was given
    (`TrainConfig.ignored`): the visitor sent it, so it is checked though this run would ignore it."""
    value = config
    for part in dotted.split("."):
        if value is None:
            return None
        if isinstance(value, TrainConfig) and not hasattr(value, part):
            value = value.ignored.get(part)
        else:
            value = getattr(value, part) if is_dataclass(value) else value.get(part)
    return value


def config_field_names() -> set[str]:
    """The top-level fields of every algorithm's config (what the classes below must cover between them)."""
    return {f.name for cls in config_classes().values() for f in fields(cls)}


def _under(url: str, base: str) -> bool:
    """`url` (fragment ignored) lies under `base`: same scheme, host and port, and a path prefix on a segment."""
    u, b = urlsplit(url.split("#", 1)[0]), urlsplit(base.split("#", 1)[0])
    if (u.scheme, u.hostname, u.port) != (b.scheme, b.hostname, b.port) or u.username or u.password:
        return False
    prefix = b.path.rstrip("/")
    return u.path == prefix or u.path.startswith(prefix + "/") or not prefix


def _shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}" + (f":{parts.port}" if parts.port else "")


# Every other field is a plain knob: numbers, choices, or text only a model reads (system_prompt, judge.rubric).
# Listed, not derived, so that a new field of any algorithm's config must be classified: tests/test_visitor.py
# fails otherwise (it compares the classes with `config_field_names()`).
KNOB_FIELDS = frozenset({
    "algorithm", "tool_top_k", "system_prompt", "rewards", "judge", "lora", "quantization", "unsloth", "dtype",
    "learning_rate", "max_steps", "num_generations", "per_device_train_batch_size", "gradient_accumulation_steps",
    "max_turns", "max_completion_length", "max_prompt_length", "temperature", "top_p", "beta", "seed", "eval_steps",
    "eval_tasks", "eval_batch_size", "save_steps", "save_total_limit", "logging_steps", "trace_samples", "threads",
    "gradient_checkpointing", "device", "max_tasks", "dpo_margin", "dpo_beta", "reward_threshold",
    "distill_grpo_steps", "zero_variance_threshold", "zero_variance_window", "native_format_steps",
    "native_format_learning_rate",
})

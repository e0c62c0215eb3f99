"""The environment a training process gets: an allow-list of settings, never the app's secrets.

A local training run and an HF Job run code chosen by whoever launched it (a Space visitor's config, their reward
module, their endpoints), so they must not be able to read what the app holds: the Space's own HF_TOKEN, endpoint
tokens, cloud keys. `child_environment` is the one place that decides what crosses over:

- settings from this process's environment, by name only (`MACHINE_SETTINGS`, `LC_*`, and `TOOLBRAIN_HUB_*` names
  that do not look like secrets); an HF Job, on another machine, gets only `PORTABLE_SETTINGS`;
- the caller's token (the visitor's own, passed explicitly) as HF_TOKEN; the app's HF_TOKEN / HUGGING_FACE_HUB_TOKEN
  are never inherited, and a local child cannot fall back to the token file saved by `hf auth login`;
- `TOOLBRAIN_HUB_UNTRUSTED=1` for an untrusted launcher (a public Space), under which training refuses every
  config field that names code (see `toolbrain_hub.config.visitor`);
- endpoint tokens (`$TOOLBRAIN_ENDPOINT_TOKEN`, or the variables a config names in `judge.token_env` /
  `teacher_token_env`) only for a trusted launcher (the machine's owner launching their own runs, not a public
  Space) and only when the config calls that endpoint.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from ..config.visitor import UNTRUSTED_ENV

__all__ = ["MACHINE_SETTINGS", "PORTABLE_SETTINGS", "child_environment", "endpoint_token_names"]

# What a local training process needs from this machine: where things are, locale, threads, GPUs, Hub settings.
MACHINE_SETTINGS = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "VIRTUAL_ENV", "PYTHONPATH", "CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "PYTORCH_CUDA_ALLOC_CONF",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS", "VECLIB_MAXIMUM_THREADS",
    "TOKENIZERS_PARALLELISM", "ONEDNN_MAX_CPU_ISA", "ATEN_CPU_CAPABILITY",
    "HF_ENDPOINT", "HF_HOME", "HF_HUB_CACHE", "HF_DATASETS_CACHE", "HF_XET_CACHE", "HF_HUB_OFFLINE",
    "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY",
})
# The subset that means the same on another machine (an HF Job's container has its own paths, threads and GPUs).
PORTABLE_SETTINGS = frozenset({"HF_ENDPOINT", "HF_HUB_DISABLE_XET", "HF_HUB_DISABLE_TELEMETRY"})
_SETTING_PREFIXES = ("LC_", "TOOLBRAIN_HUB_")
# A prefixed name that looks like a credential is never a setting, whatever its prefix.
_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASS|KEY|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)


def endpoint_token_names(config: Any) -> list[str]:
    """The environment variables holding the tokens of the endpoints `config` calls (its judge, its teacher).

    Args:
        config: A `TrainConfig`; a model counts as an endpoint when it is an http(s) URL.
    """
    from ..models.chat import ENDPOINT_TOKEN_ENV

    def is_endpoint(model: Any) -> bool:
        return isinstance(model, str) and model.startswith(("http://", "https://"))

    names = []
    judge = getattr(config, "judge", None)
    if judge is not None and is_endpoint(judge.model):
        names.append(judge.token_env or ENDPOINT_TOKEN_ENV)
    if getattr(config, "algorithm", None) == "distill" and is_endpoint(getattr(config, "teacher", None)):
        names.append(config.teacher_token_env or ENDPOINT_TOKEN_ENV)
    return list(dict.fromkeys(names))


def child_environment(*, token: str | None, config: Any = None, trusted: bool = False, portable: bool = False,
                      environ: Mapping[str, str] | None = None) -> tuple[dict[str, str], dict[str, str]]:
    """The (settings, secrets) of a training process: merge both for a local process; an HF Job takes the settings
    as its environment and the secrets as its secrets.

    Args:
        token: The Hugging Face token of the user the run belongs to (a Space visitor's own), or None; it becomes
            the child's HF_TOKEN. The app's own token is never used in its place.
        config: The run's `TrainConfig` (for its endpoints); None passes no endpoint token.
        trusted: The launcher runs its owner's own runs (locally, not on a public Space): only then do the endpoint
            tokens the config needs pass on.
        portable: For another machine (an HF Job): only `PORTABLE_SETTINGS`, no local paths or thread settings.
        environ: Where settings and endpoint tokens are read (default: `os.environ`).
    """
    environ = os.environ if environ is None else environ
    settings: dict[str, str] = {}
    for name, value in environ.items():
        if portable:
            allowed = name in PORTABLE_SETTINGS
        else:
            allowed = name in MACHINE_SETTINGS or (name.startswith(_SETTING_PREFIXES) and not _SECRET_NAME.search(name))
        if allowed:
            settings[name] = value
    if not portable:
        # huggingface_hub falls back to the token file `hf auth login` saved (the app owner's): not for the child.
        settings["HF_TOKEN_PATH"] = os.devnull
    if trusted:
        settings.pop(UNTRUSTED_ENV, None)
    else:  # training itself then refuses code-bearing config fields (toolbrain_hub.config.visitor)
        settings[UNTRUSTED_ENV] = "1"
    secrets: dict[str, str] = {}
    if token:
        secrets["HF_TOKEN"] = token
    if trusted and config is not None:
        for name in endpoint_token_names(config):
            if environ.get(name):
                secrets[name] = environ[name]
    return settings, secrets

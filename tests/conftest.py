"""Shared fixtures: a tiny random Qwen2 model built in-test, an isolated cache, markers."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder with a tiny random Qwen2 model + tokenizer (TRL's Qwen2.5 chat template), built once per session."""
    from toolbrain_hub.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """(model, tokenizer) for the tiny model, loaded once per session; don't train it in place."""
    from toolbrain_hub.models import load_model

    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def default_model_dir():
    """The real default model's prepared folder (prepared once into the user cache; ~1 min the first time)."""
    from toolbrain_hub.models import DEFAULT_MODEL, prepare_model

    return prepare_model(DEFAULT_MODEL, progress=False)


def pytest_collection_modifyitems(config, items):
    import torch

    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "default_model" in item.keywords:
            item.add_marker(pytest.mark.slow)

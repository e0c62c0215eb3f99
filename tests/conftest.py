"""Shared fixtures: a tiny random Qwen2 model built in-test, the pinned model (replies fixed by construction, for
flow tests), an isolated cache and Hub test server, markers."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """Folder with a tiny random Qwen2 model + tokenizer (TRL's Qwen2.5 chat template), built once per session."""
    from toolbrain_hub.models.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_model(tiny_model_dir):
    """(model, tokenizer) for the tiny model, loaded once per session; don't train it in place."""
    from toolbrain_hub.models import load_model

    return load_model(str(tiny_model_dir), device="cpu")


@pytest.fixture(scope="session")
def pinned_model_dir(tmp_path_factory):
    """Folder with the pinned model (tests/pinned.py): it calls get_weather for Paris, then answers pinned.ANSWER."""
    import pinned

    from toolbrain_hub.models.tiny import build_pinned_model

    return build_pinned_model(tmp_path_factory.mktemp("pinned-qwen2"), first_reply=pinned.FIRST_REPLY,
                              after_tool_reply=pinned.ANSWER)


@pytest.fixture(scope="session")
def pinned_model_repo(hub_server, pinned_model_dir):
    """The pinned model as alice's public model repo on the Hub test server: a base model that travels with a
    published agent (a local folder would be published as a bare name)."""
    import pinned

    from toolbrain_hub import hub

    hub.push_folder(pinned_model_dir, pinned.REPO, token=hub_server.token)
    return pinned.REPO


@pytest.fixture(scope="session")
def default_model_dir():
    """The real default model's prepared folder (prepared once into the user cache; ~1 min the first time)."""
    from toolbrain_hub.models import DEFAULT_MODEL, prepare_model

    return prepare_model(DEFAULT_MODEL, progress=False)


@pytest.fixture
def small_gguf(tmp_path):
    """A small real GGUF file (written with the gguf package): file type Q8_0, one float32 and one Q8_0 tensor,
    named "Fake Coder 0.5B Instruct" in its metadata."""
    import numpy as np
    from gguf import GGMLQuantizationType, GGUFWriter, LlamaFileType, quants

    path = tmp_path / "fake.gguf"
    writer = GGUFWriter(path, "qwen2")
    writer.add_name("Fake Coder 0.5B Instruct")
    writer.add_file_type(LlamaFileType.MOSTLY_Q8_0)
    writer.add_tensor("output_norm.weight", np.ones(32, dtype=np.float32))
    weights = np.linspace(-1, 1, 64 * 32, dtype=np.float32).reshape(64, 32)
    writer.add_tensor("output.weight", quants.quantize(weights, GGMLQuantizationType.Q8_0),
                      raw_dtype=GGMLQuantizationType.Q8_0)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def pytest_collection_modifyitems(config, items):
    import torch

    skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU")
    for item in items:
        if "gpu" in item.keywords and not torch.cuda.is_available():
            item.add_marker(skip_gpu)
        if "default_model" in item.keywords:
            item.add_marker(pytest.mark.slow)


# =====================================================================================================================
# Hub test server (tests/hub_server.py): an isolated Hugging Face environment + the session fixture `hub_server`.
# huggingface_hub and datasets read HF_ENDPOINT, HF_HOME, HF_HUB_DISABLE_XET... once, at import. So the server's port
# is bound (reserved) and the environment is set here, while conftest is imported, before any test module imports
# them. Tests never see the real Hub, the user's token or the user's ~/.cache/huggingface. Local model folders and
# the prepared default model (TOOLBRAIN_HUB_CACHE / platformdirs cache) are unaffected.
# =====================================================================================================================
import atexit  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from dataclasses import dataclass  # noqa: E402

if "huggingface_hub" in sys.modules or "datasets" in sys.modules:
    raise RuntimeError("huggingface_hub/datasets were imported before tests/conftest.py could point them at the test "
                       "Hub server: tests would talk to the real Hub. Don't import them from a pytest plugin.")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hub_server import HubApp, HubServer  # noqa: E402

_HUB_SERVER = HubServer()  # binds 127.0.0.1:<free port> now; accepts connections once the fixture starts it
atexit.register(_HUB_SERVER.stop)
_HF_HOME = tempfile.mkdtemp(prefix="toolbrain-test-hf-home-")
atexit.register(shutil.rmtree, _HF_HOME, ignore_errors=True)
for _var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
             "HF_DATASETS_CACHE", "HF_XET_CACHE", "HF_ASSETS_CACHE", "HF_STORED_TOKENS_PATH", "HF_HUB_OFFLINE",
             "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
    os.environ.pop(_var, None)
os.environ.update({"HF_ENDPOINT": _HUB_SERVER.url, "HF_HOME": _HF_HOME, "HF_HUB_DISABLE_XET": "1"})


@dataclass(frozen=True)
class HubTestServer:
    """What tests get from `hub_server`: the endpoint, two users' tokens, and the server's state for inspection."""

    endpoint: str
    app: HubApp
    token: str = "hf_test_alice"
    user: str = "alice"
    other_token: str = "hf_test_bob"
    other_user: str = "bob"


@pytest.fixture(scope="session")
def hub_server():
    """The wire-compatible Hub test server on 127.0.0.1, at the HF_ENDPOINT every client in this session uses."""
    _HUB_SERVER.start()
    yield HubTestServer(endpoint=_HUB_SERVER.url, app=_HUB_SERVER.app)
    _HUB_SERVER.stop()

"""toolbrain_hub.hub over real HTTP against the wire-compatible Hub test server, with the unmodified clients."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import traceback
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest

from toolbrain_hub import hub

ROOT = Path(__file__).resolve().parents[1]
# The artifacts carry a parquet file in model repos on purpose; huggingface_hub warns about that.
pytestmark = pytest.mark.filterwarnings("ignore:It seems that you are about to commit a data file")


def unique(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def make_artifact(folder: Path, text: str = "v1") -> Path:
    """A folder like the ones the project publishes: card, weights, data, config."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq
    from safetensors.numpy import save_file

    folder.mkdir(parents=True, exist_ok=True)
    card = f"---\nlicense: apache-2.0\ntags:\n- toolbrain-hub\n---\n# Test artifact {text}\n"
    (folder / "README.md").write_text(card)
    save_file({"w": np.arange(64, dtype=np.float32).reshape(8, 8)}, str(folder / "model.safetensors"))
    (folder / "data").mkdir(exist_ok=True)
    pq.write_table(pa.table({"prompt": ["a", "b"], "answer": [text, text]}), folder / "data" / "train.parquet")
    (folder / "config.json").write_text(json.dumps({"version": text}))
    return folder


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def assert_token_absent(excinfo, *tokens: str) -> None:
    """No token in the message, nor anywhere in the formatted traceback of the whole exception chain."""
    text = "".join(traceback.format_exception(excinfo.value))
    for token in tokens:
        assert token not in text


@pytest.fixture(autouse=True)
def no_ambient_token(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)


def test_push_folder_and_download_byte_identical(hub_server, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    src = make_artifact(tmp_path / "artifact")
    repo_id = f"alice/{unique()}"
    url = hub.push_folder(src, repo_id, token=hub_server.token)
    assert url == f"{hub_server.endpoint}/{repo_id}"

    # Binary files went through the LFS protocol, text files inline, as on the real Hub.
    stored = hub_server.app.repos[("model", repo_id)]
    head = stored.resolve("main").files
    assert head["model.safetensors"].lfs and head["data/train.parquet"].lfs
    assert not head["README.md"].lfs and not head["config.json"].lfs

    out = hub.download(repo_id, token=hub_server.token)
    got = files_of(out)
    assert {k: v for k, v in got.items() if k != ".gitattributes"} == files_of(src)
    # A public repo needs no token to read.
    assert files_of(hub.download(repo_id)) == got

    # The token reached neither the logs nor any file of the HF home (cache, refs, metadata).
    assert hub_server.token not in caplog.text
    home = Path(os.environ["HF_HOME"])
    assert not [p for p in home.rglob("*") if p.is_file() and hub_server.token.encode() in p.read_bytes()]


def test_repo_info_and_tree(hub_server, tmp_path):
    from huggingface_hub import HfApi, RepoFile, RepoFolder

    repo_id = hub.full_repo_id(unique(), token=hub_server.token)  # bare name -> the signed-in user's namespace
    assert repo_id.startswith("alice/")
    hub.push_folder(make_artifact(tmp_path / "a"), repo_id, token=hub_server.token)
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    info = api.repo_info(repo_id)
    assert len(info.sha) == 40 and info.private is False
    assert {s.rfilename for s in info.siblings} == {".gitattributes", "README.md", "model.safetensors",
                                                     "data/train.parquet", "config.json"}
    tree = {e.path: e for e in api.list_repo_tree(repo_id, recursive=True)}
    assert isinstance(tree["data"], RepoFolder) and isinstance(tree["data/train.parquet"], RepoFile)
    weights = tree["model.safetensors"]
    assert weights.lfs is not None
    assert weights.lfs.size == weights.size == (tmp_path / "a/model.safetensors").stat().st_size
    top = [e.path for e in api.list_repo_tree(repo_id)]
    assert "data" in top and "data/train.parquet" not in top
    assert [e.path for e in api.list_repo_tree(repo_id, path_in_repo="data")] == ["data/train.parquet"]
    assert [e.path for e in api.get_paths_info(repo_id, ["config.json", "missing.txt"])] == ["config.json"]
    expanded = {e.path: e for e in api.list_repo_tree(repo_id, expand=True)}
    assert expanded["config.json"].last_commit.oid == info.sha  # added by the upload commit
    assert expanded[".gitattributes"].last_commit.oid != info.sha  # unchanged since the repo was created


def test_revisions_resolve_to_old_content(hub_server, tmp_path):
    from huggingface_hub import HfApi

    repo_id = f"alice/{unique()}"
    api = HfApi(endpoint=hub_server.endpoint, token=hub_server.token)
    hub.push_folder(make_artifact(tmp_path / "v1", "v1"), repo_id, token=hub_server.token)
    first = api.repo_info(repo_id).sha
    hub.push_folder(make_artifact(tmp_path / "v2", "v2"), repo_id, token=hub_server.token, commit_message="v2")
    second = api.repo_info(repo_id).sha
    assert first != second and api.repo_info(repo_id, revision=first).sha == first

    old = hub.download(repo_id, revision=first, token=hub_server.token)
    new = hub.download(repo_id, token=hub_server.token)
    assert json.loads((old / "config.json").read_text()) == {"version": "v1"}
    assert json.loads((new / "config.json").read_text()) == {"version": "v2"}
    history = hub_server.app.repos[("model", repo_id)].commits
    assert history[second].parent == first and history[second].title == "v2"
    with pytest.raises(hub.RepoNotFoundError, match="Revision 'no-such-branch' was not found"):
        hub.download(repo_id, revision="no-such-branch", token=hub_server.token)


def test_private_repo_is_invisible_to_others(hub_server, tmp_path):
    repo_id = f"alice/{unique('private')}"
    hub.push_folder(make_artifact(tmp_path / "p"), repo_id, token=hub_server.token, private=True)
    assert (hub.download(repo_id, token=hub_server.token) / "config.json").exists()

    # alice's copy is in this machine's shared cache: bob must still get a 404, not the cached files.
    with pytest.raises(hub.RepoNotFoundError, match=f"'{repo_id}' was not found") as excinfo:
        hub.download(repo_id, token=hub_server.other_token)
    assert_token_absent(excinfo, hub_server.token, hub_server.other_token)
    with pytest.raises(hub.NoTokenError, match="without a token") as excinfo:
        hub.download(repo_id)
    assert "HF_TOKEN" in str(excinfo.value)


def test_no_token_wrong_token_and_other_namespace(hub_server, tmp_path):
    src = make_artifact(tmp_path / "a")
    with pytest.raises(hub.NoTokenError, match="HF_TOKEN"):
        hub.push_folder(src, f"alice/{unique()}")

    wrong = "hf_test_not_a_real_token_123"
    with pytest.raises(hub.HubPermissionError, match="rejected your token") as excinfo:
        hub.push_folder(src, f"alice/{unique()}", token=wrong)
    assert_token_absent(excinfo, wrong)
    with pytest.raises(hub.HubPermissionError, match="rejected your token") as excinfo:
        hub.whoami(wrong)
    assert_token_absent(excinfo, wrong)

    # bob may read alice's public repo but not write into her namespace.
    repo_id = f"alice/{unique()}"
    with pytest.raises(hub.HubPermissionError, match="write access to 'alice'") as excinfo:
        hub.push_folder(src, repo_id, token=hub_server.other_token)
    assert_token_absent(excinfo, hub_server.other_token)
    hub.push_folder(src, repo_id, token=hub_server.token)
    with pytest.raises(hub.HubPermissionError, match="write access to 'alice'"):
        hub.push_folder(src, repo_id, token=hub_server.other_token)
    assert hub.whoami(hub_server.other_token) == "bob"


def test_existing_repo(hub_server, tmp_path):
    src = make_artifact(tmp_path / "a")
    repo_id = f"alice/{unique()}"
    hub.push_folder(src, repo_id, token=hub_server.token)
    with pytest.raises(hub.RepoExistsError, match="exist_ok=True") as excinfo:
        hub.push_folder(src, repo_id, token=hub_server.token, exist_ok=False)
    assert_token_absent(excinfo, hub_server.token)
    (src / "extra.txt").write_text("more")
    hub.push_folder(src, repo_id, token=hub_server.token)  # exist_ok=True (default) pushes into it
    assert (hub.download(repo_id, token=hub_server.token) / "extra.txt").read_text() == "more"


def test_unreachable_hub_is_a_network_error(hub_server, tmp_path, monkeypatch):
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed}")
    with pytest.raises(hub.HubNetworkError, match=f"127.0.0.1:{closed}") as excinfo:
        hub.push_folder(make_artifact(tmp_path / "a"), f"alice/{unique()}", token=hub_server.token)
    assert_token_absent(excinfo, hub_server.token)
    with pytest.raises(hub.HubNetworkError, match="not in the local cache") as excinfo:
        hub.download(f"alice/{unique()}", token=hub_server.token)
    assert_token_absent(excinfo, hub_server.token)


def test_local_folders_and_repo_ids(hub_server, tmp_path, monkeypatch):
    assert hub.download(tmp_path) == tmp_path
    assert hub.download(str(tmp_path)) == tmp_path
    with pytest.raises(FileNotFoundError, match="No folder at"):
        hub.download("./no/such/folder")
    assert not hub.is_local("alice/tasks") and not hub.is_local("gpt2")
    assert hub.is_local("./tasks") and hub.is_local("/abs/path") and hub.is_local("a/b/c") and hub.is_local(tmp_path)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "alice" / "tasks").mkdir(parents=True)
    assert hub.is_local("alice/tasks")  # an existing folder wins over the repo-id reading

    assert hub.repo_url("alice/x", "dataset") == f"{hub_server.endpoint}/datasets/alice/x"
    monkeypatch.delenv("HF_ENDPOINT")
    assert hub.repo_url("alice/x", "dataset") == "https://huggingface.co/datasets/alice/x"
    assert hub.repo_url("alice/x") == "https://huggingface.co/alice/x"
    with pytest.raises(ValueError, match="repo_type"):
        hub.repo_url("alice/x", "datasets")


def test_resolve_token_precedence(tmp_path, monkeypatch):
    from huggingface_hub import constants

    saved = tmp_path / "token"
    saved.write_text("hf_saved_login")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(saved))
    assert hub.resolve_token() == "hf_saved_login"
    monkeypatch.setenv("HF_TOKEN", "hf_from_env")
    assert hub.resolve_token() == "hf_from_env"
    assert hub.resolve_token("hf_explicit") == "hf_explicit"
    monkeypatch.delenv("HF_TOKEN")
    saved.unlink()
    assert hub.resolve_token() is None


def test_datasets_push_to_hub_then_load_dataset(hub_server):
    import datasets

    repo_id = f"alice/{unique('tasks')}"
    rows = {"prompt": ["What is 2+2?", "Weather in Paris?"], "tool": ["calculator", "weather"]}
    datasets.Dataset.from_dict(rows).push_to_hub(repo_id, token=hub_server.token)
    loaded = datasets.load_dataset(repo_id, split="train")  # plain call: HF_ENDPOINT from the environment
    assert loaded.to_dict() == rows
    folder = hub.download(repo_id, repo_type="dataset")
    assert list(folder.glob("data/train-*.parquet")) and (folder / "README.md").exists()


def test_model_card_load(hub_server, tmp_path):
    from huggingface_hub import ModelCard

    repo_id = f"alice/{unique()}"
    hub.push_folder(make_artifact(tmp_path / "a", "card"), repo_id, token=hub_server.token)
    card = ModelCard.load(repo_id)
    assert card.data.license == "apache-2.0" and card.data.tags == ["toolbrain-hub"]
    assert "# Test artifact card" in card.text


def test_offline_reads_from_cache(hub_server, tmp_path):
    import datasets

    repo_id = f"alice/{unique()}"
    hub.push_folder(make_artifact(tmp_path / "a", "offline"), repo_id, token=hub_server.token)
    online = hub.download(repo_id)
    data_id = f"alice/{unique('tasks')}"
    datasets.Dataset.from_dict({"x": [1, 2, 3]}).push_to_hub(data_id, token=hub_server.token)
    datasets.load_dataset(data_id, split="train")  # fills the datasets cache

    script = f"""
import json
import datasets
from toolbrain_hub import hub
folder = hub.download({repo_id!r})
print(json.dumps({{"folder": str(folder), "config": json.loads((folder / "config.json").read_text())}}))
print(json.dumps(list(datasets.load_dataset({data_id!r}, split="train")["x"])))
try:
    hub.download("alice/never-downloaded")
except hub.HubNetworkError as err:
    print(json.dumps(str(err)))
"""
    requests_before = len(hub_server.app.log)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.strip().splitlines()[-3:]]
    assert lines[0] == {"folder": str(online), "config": {"version": "offline"}}
    assert lines[1] == [1, 2, 3]
    assert "HF_HUB_OFFLINE=1" in lines[2] and "alice/never-downloaded" in lines[2]
    assert len(hub_server.app.log) == requests_before  # offline means not a single request


def test_server_resolve_headers_and_ranges(hub_server, tmp_path):
    repo_id = f"alice/{unique()}"
    src = make_artifact(tmp_path / "a")
    hub.push_folder(src, repo_id, token=hub_server.token)
    data = (src / "model.safetensors").read_bytes()
    url = f"{hub_server.endpoint}/{repo_id}/resolve/main/model.safetensors"

    def fetch(headers=None, method="GET"):
        return urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}, method=method))

    with fetch(method="HEAD") as r:
        assert len(r.headers["X-Repo-Commit"]) == 40 and r.headers["X-Linked-Size"] == str(len(data))
        assert r.headers["ETag"].strip('"') == hub_server.app.repos[("model", repo_id)].resolve("main").files[
            "model.safetensors"].sha256
    with fetch({"Range": "bytes=10-19"}) as r:
        assert r.status == 206 and r.read() == data[10:20]
        assert r.headers["Content-Range"] == f"bytes 10-19/{len(data)}"
    with fetch({"Range": "bytes=-5"}) as r:
        assert r.read() == data[-5:]
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        fetch({"Range": f"bytes={len(data)}-"})
    assert excinfo.value.code == 416
    with pytest.raises(urllib.error.HTTPError) as excinfo:
        urllib.request.urlopen(url.replace("model.safetensors", "nope.bin"))
    assert excinfo.value.code == 404 and excinfo.value.headers["X-Error-Code"] == "EntryNotFound"


def test_server_rejects_bad_requests_clearly(hub_server, tmp_path):
    repo_id = f"alice/{unique()}"
    hub.push_folder(make_artifact(tmp_path / "a"), repo_id, token=hub_server.token)

    def call(method, path, body=b"", token=hub_server.token):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        request = urllib.request.Request(hub_server.endpoint + path, data=body or None, method=method, headers=headers)
        with pytest.raises(urllib.error.HTTPError) as excinfo:
            urllib.request.urlopen(request)
        return excinfo.value.code, json.loads(excinfo.value.read())["error"]

    status, message = call("POST", f"/api/models/{repo_id}/commit/main", b"not json")
    assert status == 400 and "Bad request" in message
    status, message = call("POST", f"/api/models/{repo_id}/commit/main", b'{"key": "file"}\n')
    assert status == 400 and "header" in message
    assert call("GET", "/api/no/such/endpoint")[0] == 404
    assert call("PUT", "/lfs-upload/" + "0" * 32, b"x")[0] == 404  # unknown upload ticket
    assert call("POST", "/api/repos/create", b'{"name": "x"}', token=None)[0] == 401
    assert call("POST", "/api/repos/create", b'{"name": "x", "organization": "bob"}')[0] == 403

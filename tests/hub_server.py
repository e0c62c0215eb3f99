"""A wire-compatible Hugging Face Hub test server: stdlib only, in memory, real HTTP on 127.0.0.1.

Why: no Hub server can be installed offline, and mocks would not prove that the unmodified `huggingface_hub`
and `datasets` clients work. This server speaks the subset of the Hub's HTTP API those clients use to create repos,
upload (regular files inline, binary files through the LFS protocol), list and download files:

    GET    /api/whoami-v2
    POST   /api/repos/create                                   (409 if it exists)
    DELETE /api/repos/delete
    POST   /api/validate-yaml
    GET    /api/{models|datasets|spaces}/{ns}/{name}[/revision/{rev}]
    GET    /api/{type}s/{ns}/{name}/tree/{rev}[/{path}]?recursive=&expand=
    POST   /api/{type}s/{ns}/{name}/paths-info/{rev}           (form: paths=..., expand=...)
    POST   /api/{type}s/{ns}/{name}/preupload/{rev}            ("lfs" for binary files, *.safetensors, *.parquet...)
    POST   /api/{type}s/{ns}/{name}/commit/{rev}               (NDJSON: header, file, lfsFile, deletedFile/Folder)
    POST   /[datasets/]{ns}/{name}.git/info/lfs/objects/batch  (answers with upload URLs below)
    PUT    /lfs-upload/{ticket}                                (pre-signed style: no auth, checks sha256 + size)
    HEAD/GET /[datasets/|spaces/]{ns}/{name}/resolve/{rev}/{path}  (X-Repo-Commit, ETag, X-Linked-*, Range)

Auth follows the Hub: `Authorization: Bearer <token>`; tokens map to users (`DEFAULT_USERS`: "hf_test_alice" ->
alice, "hf_test_bob" -> bob). An unknown token is a 401 on every endpoint; writing needs a token (401) for your
own namespace (else 403); a private repo is invisible to others (404, or 401 when anonymous, with the Hub's
`X-Error-Code: RepoNotFound`); creating an existing repo is a 409. Every commit gets a 40-hex id and history is
kept per repo, so branches and commit ids both resolve as revisions. Clients must run with `HF_HUB_DISABLE_XET=1`.

Extension point: handlers are plain functions `handler(request: Request) -> Response` registered on a `HubApp`
with `app.add_route(method, regex, handler)`. The regex is matched against the raw (still percent-encoded) path and
its named groups arrive URL-decoded in `request.params`; raise `HTTPError` for an error answer. Another API (e.g.
HF Jobs) is added by registering its routes on the same app.

Run standalone: `python tests/hub_server.py --port 8765`, then `HF_ENDPOINT=http://127.0.0.1:8765`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_USERS = {"hf_test_alice": "alice", "hf_test_bob": "bob"}

# The Hub decides "lfs" vs "regular" from .gitattributes; these are the usual binary/data suffixes.
LFS_SUFFIXES = (".safetensors", ".parquet", ".arrow", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5",
                ".msgpack", ".npy", ".npz", ".pkl", ".zip", ".gz", ".tar", ".zst", ".png", ".jpg", ".jpeg")
LFS_MIN_SIZE = 10 * 1024 * 1024  # larger files go through LFS whatever their suffix
TYPE_PREFIX = {"model": "", "dataset": "datasets/", "space": "spaces/"}
GITATTRIBUTES = "".join(f"*{s} filter=lfs diff=lfs merge=lfs -text\n" for s in LFS_SUFFIXES).encode()

REPO = r"(?P<type>models|datasets|spaces)/(?P<repo_id>[^/]+/[^/]+)"
URL_REPO = r"(?:(?P<prefix>datasets|spaces)/)?(?P<repo_id>[^/]+/[^/]+)"


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


def now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


# ---------------------------------------------------------------------------------------------------------------
# Storage: repos, commits, files (content lives in a sha256-addressed blob store shared by all repos)
# ---------------------------------------------------------------------------------------------------------------


@dataclass
class FileEntry:
    size: int
    sha256: str  # key in the blob store
    blob_id: str  # git oid: of the content, or of the LFS pointer for LFS files
    lfs: bool

    @classmethod
    def make(cls, data: bytes, lfs: bool) -> FileEntry:
        sha = hashlib.sha256(data).hexdigest()
        blob = git_blob_id(lfs_pointer(sha, len(data))) if lfs else git_blob_id(data)
        return cls(size=len(data), sha256=sha, blob_id=blob, lfs=lfs)

    def to_json(self, path: str) -> dict:
        out = {"type": "file", "oid": self.blob_id, "size": self.size, "path": path}
        if self.lfs:
            out["lfs"] = {"oid": self.sha256, "size": self.size,
                          "pointerSize": len(lfs_pointer(self.sha256, self.size))}
        return out


@dataclass
class Commit:
    oid: str
    parent: str | None
    title: str
    description: str
    date: str
    files: dict[str, FileEntry]

    def to_json(self) -> dict:
        return {"id": self.oid, "title": self.title, "date": self.date}


@dataclass
class Repo:
    repo_type: str
    repo_id: str
    private: bool
    created_at: str = field(default_factory=now_iso)
    branches: dict[str, str] = field(default_factory=dict)  # branch -> commit oid
    commits: dict[str, Commit] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.repo_id.split("/")[0]

    @property
    def url_path(self) -> str:
        return TYPE_PREFIX[self.repo_type] + self.repo_id

    def resolve(self, revision: str) -> Commit:
        """A branch name or a commit id of this repo -> the commit (404 RevisionNotFound otherwise)."""
        oid = self.branches.get(revision, revision)
        if oid not in self.commits:
            raise HTTPError(404, f"Invalid rev id: {revision}", code="RevisionNotFound")
        return self.commits[oid]

    def add_commit(self, branch: str, files: dict[str, FileEntry], title: str, description: str = "") -> Commit:
        parent = self.branches.get(branch)
        digest = json.dumps([parent, title, time.time_ns(), sorted((p, f.blob_id) for p, f in files.items())])
        commit = Commit(hashlib.sha1(digest.encode()).hexdigest(), parent, title, description, now_iso(), files)
        self.commits[commit.oid] = commit
        self.branches[branch] = commit.oid
        return commit

    def last_commit_for(self, commit: Commit, path: str) -> Commit:
        """The newest commit (walking from `commit`) after which `path` (file or folder) stopped changing."""
        def snapshot(c: Commit) -> list:
            return sorted((p, f.blob_id) for p, f in c.files.items() if p == path or p.startswith(path + "/"))

        current, mine = commit, snapshot(commit)
        while current.parent is not None and snapshot(self.commits[current.parent]) == mine:
            current = self.commits[current.parent]
        return current


# ---------------------------------------------------------------------------------------------------------------
# HTTP plumbing: Request/Response/HTTPError and the route table
# ---------------------------------------------------------------------------------------------------------------


class HTTPError(Exception):
    """An error answer: JSON body {"error": message}, plus the Hub's X-Error-Code/X-Error-Message headers."""

    def __init__(self, status: int, message: str, *, code: str | None = None, headers: dict | None = None,
                 extra: dict | None = None):
        super().__init__(message)
        self.status, self.message, self.code, self.headers = status, message, code, headers or {}
        self.extra = extra or {}  # more JSON fields for the body


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: Message
    body: bytes
    user: str | None = None
    params: dict[str, str] = field(default_factory=dict)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default

    def flag(self, name: str) -> bool:
        return (self.arg(name) or "").lower() in ("1", "true", "yes")

    def json(self):
        try:
            return json.loads(self.body or b"{}")
        except ValueError as err:
            raise HTTPError(400, f"Request body is not valid JSON: {err}") from None


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)


def json_response(data, status: int = 200, headers: dict | None = None) -> Response:
    return Response(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})})


Handler = Callable[[Request], Response]


class HubApp:
    """The Hub's state (users, repos, blobs) and its request handlers, independent of the HTTP transport."""

    def __init__(self, users: dict[str, str] | None = None, base_url: str = ""):
        self.users = dict(DEFAULT_USERS if users is None else users)  # token -> username
        self.base_url = base_url  # set by HubServer: used for the URLs the server hands out
        self.repos: dict[tuple[str, str], Repo] = {}
        self.blobs: dict[str, bytes] = {}  # sha256 -> content
        self.uploads: dict[str, tuple[str, int]] = {}  # LFS upload ticket -> (sha256, size)
        self.lock = threading.RLock()
        self.log: list[tuple[str, str, int]] = []  # (method, path, status): paths only, never headers
        self.routes: list[tuple[str, re.Pattern, Handler, bool]] = []
        for method, pattern, handler in [
            ("GET", r"/api/whoami-v2", self.whoami),
            ("POST", r"/api/repos/create", self.create_repo),
            ("DELETE", r"/api/repos/delete", self.delete_repo),
            ("POST", r"/api/validate-yaml", self.validate_yaml),
            ("GET", rf"/api/{REPO}(?:/revision/(?P<rev>[^/]+))?", self.repo_info),
            ("GET", rf"/api/{REPO}/tree/(?P<rev>[^/]+)(?:/(?P<path>.*))?", self.tree),
            ("POST", rf"/api/{REPO}/paths-info/(?P<rev>[^/]+)", self.paths_info),
            ("POST", rf"/api/{REPO}/preupload/(?P<rev>[^/]+)", self.preupload),
            ("POST", rf"/api/{REPO}/commit/(?P<rev>[^/]+)", self.commit),
            ("POST", rf"/{URL_REPO}\.git/info/lfs/objects/batch", self.lfs_batch),
            ("PUT", r"/lfs-upload/(?P<ticket>[0-9a-f]+)", self.lfs_upload),
            ("GET", rf"/{URL_REPO}/resolve/(?P<rev>[^/]+)/(?P<path>.+)", self.resolve),
        ]:
            self.add_route(method, pattern, handler)

    def add_route(self, method: str, pattern: str, handler: Handler, *, locked: bool = True) -> None:
        """Register `handler` for `method` on paths fully matching `pattern` (HEAD is served by GET routes).

        Handlers run one at a time under `self.lock`; pass `locked=False` for one that waits (e.g. on a running job)
        and guards its own state.
        """
        self.routes.append((method.upper(), re.compile(pattern), handler, locked))

    def dispatch(self, request: Request) -> Response:
        try:
            request.user = self._authenticate(request.headers)
            method = "GET" if request.method == "HEAD" else request.method
            for route_method, pattern, handler, locked in self.routes:
                match = pattern.fullmatch(request.path)
                if match and route_method == method:
                    request.params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                    if locked:
                        with self.lock:
                            response = handler(request)
                    else:
                        response = handler(request)
                    break
            else:
                raise HTTPError(404, f"No route for {request.method} {request.path} on this test server")
        except (KeyError, TypeError, ValueError) as err:  # malformed request bodies: a clear 400, not a dropped socket
            response = json_response({"error": f"Bad request: {type(err).__name__}: {err}"}, 400)
        except HTTPError as err:
            headers = {"X-Error-Message": err.message, **err.headers}
            if err.code:
                headers["X-Error-Code"] = err.code
            response = json_response({"error": err.message, **err.extra}, err.status, headers)
        self.log.append((request.method, request.path, response.status))
        return response

    # -- auth and lookups ------------------------------------------------------------------------------------

    def _authenticate(self, headers: Message) -> str | None:
        auth = headers.get("Authorization") or ""
        if not auth:
            return None
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else auth
        if token not in self.users:
            raise HTTPError(401, "Invalid credentials in Authorization header")
        return self.users[token]

    @staticmethod
    def _require_user(request: Request) -> str:
        if request.user is None:
            raise HTTPError(401, "You must be authenticated to do this: pass a token")
        return request.user

    def _repo(self, request: Request, *, write: bool = False) -> Repo:
        """The repo named by the route; private repos exist only for their owner (like the Hub, 401 if anonymous)."""
        params = request.params
        repo_type = params["type"][:-1] if "type" in params else {"datasets": "dataset", "spaces": "space"}.get(
            params.get("prefix", ""), "model")
        repo = self.repos.get((repo_type, params["repo_id"]))
        if repo is None or (repo.private and request.user != repo.namespace):
            raise HTTPError(401 if request.user is None else 404, "Repository not found", code="RepoNotFound")
        if write and self._require_user(request) != repo.namespace:
            raise HTTPError(403, f"You don't have the rights to write to {repo.url_path}")
        return repo

    def _blob(self, entry: FileEntry) -> bytes:
        return self.blobs[entry.sha256]

    # -- account and repo management -------------------------------------------------------------------------

    def whoami(self, request: Request) -> Response:
        name = self._require_user(request)
        return json_response({
            "type": "user", "id": hashlib.sha1(name.encode()).hexdigest()[:24], "name": name, "fullname": name.title(),
            "email": f"{name}@example.com", "orgs": [], "isPro": False,
            "auth": {"type": "access_token", "accessToken": {"displayName": "test token", "role": "write"}},
        })

    def create_repo(self, request: Request) -> Response:
        user = self._require_user(request)
        body = request.json()
        name, namespace = body.get("name"), body.get("organization") or user
        repo_type = body.get("type") or "model"
        if not name or not re.fullmatch(r"[\w.-]+", name) or repo_type not in TYPE_PREFIX:
            raise HTTPError(400, f"Invalid repo name or type: {name!r}, {repo_type!r}")
        if namespace != user:
            raise HTTPError(403, f"You don't have the rights to create a repo under the namespace {namespace!r}")
        repo_id = f"{namespace}/{name}"
        url = f"{self.base_url}/{TYPE_PREFIX[repo_type]}{repo_id}"
        if (repo_type, repo_id) in self.repos:
            # The client reads "url" even from the 409 when exist_ok=True, as the Hub sends it.
            raise HTTPError(409, f"You already created this {repo_type} repo: {repo_id}", extra={"url": url})
        private = body.get("visibility") == "private" or bool(body.get("private"))
        repo = Repo(repo_type, repo_id, private)
        self.blobs[hashlib.sha256(GITATTRIBUTES).hexdigest()] = GITATTRIBUTES
        repo.add_commit("main", {".gitattributes": FileEntry.make(GITATTRIBUTES, lfs=False)}, "initial commit")
        self.repos[(repo_type, repo_id)] = repo
        return json_response({"url": url, "name": repo_id, "id": repo_id})

    def delete_repo(self, request: Request) -> Response:
        user = self._require_user(request)
        body = request.json()
        request.params = {"type": (body.get("type") or "model") + "s",
                          "repo_id": f"{body.get('organization') or user}/{body.get('name')}"}
        repo = self._repo(request, write=True)
        del self.repos[(repo.repo_type, repo.repo_id)]
        return json_response({})

    def validate_yaml(self, request: Request) -> Response:
        # Only the front-matter framing is checked (stdlib has no YAML parser): an unclosed block is an error.
        content = request.json().get("content", "")
        lines = content.splitlines()
        if lines and lines[0].strip() == "---" and "---" not in (line.strip() for line in lines[1:]):
            return json_response({"errors": [{"message": "README.md metadata block is not closed by '---'"}]}, 400)
        return json_response({"errors": [], "warnings": []})

    # -- reading ---------------------------------------------------------------------------------------------

    def repo_info(self, request: Request) -> Response:
        repo = self._repo(request)
        commit = repo.resolve(request.params.get("rev", "main"))
        siblings = []
        for path, entry in sorted(commit.files.items()):
            sibling = {"rfilename": path, "size": entry.size, "blobId": entry.blob_id}
            if entry.lfs:
                sibling["lfs"] = {"size": entry.size, "sha256": entry.sha256,
                                  "pointerSize": len(lfs_pointer(entry.sha256, entry.size))}
            siblings.append(sibling)
        return json_response({
            "_id": hashlib.sha1(repo.url_path.encode()).hexdigest()[:24], "id": repo.repo_id,
            "author": repo.namespace, "sha": commit.oid, "lastModified": commit.date, "createdAt": repo.created_at,
            "private": repo.private, "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
            "siblings": siblings, "usedStorage": sum(e.size for e in commit.files.values()),
        })

    def _entries(self, repo: Repo, commit: Commit, paths: list[str], expand: bool) -> list[dict]:
        """Tree/paths-info JSON for existing paths (files, or folders implied by the files under them)."""
        out = []
        for path in paths:
            if path in commit.files:
                item = commit.files[path].to_json(path)
            else:
                under = sorted((p, f.blob_id) for p, f in commit.files.items() if p.startswith(path + "/"))
                if not under:
                    continue
                item = {"type": "directory", "oid": hashlib.sha1(json.dumps(under).encode()).hexdigest(),
                        "size": 0, "path": path}
            if expand:
                item["lastCommit"] = repo.last_commit_for(commit, path).to_json()
            out.append(item)
        return out

    def tree(self, request: Request) -> Response:
        repo = self._repo(request)
        commit = repo.resolve(request.params["rev"])
        base = request.params.get("path", "").strip("/")
        prefix = base + "/" if base else ""
        if base and not any(p.startswith(prefix) for p in commit.files):
            raise HTTPError(404, f"Folder {base!r} not found in {commit.oid}", code="EntryNotFound",
                            headers={"X-Repo-Commit": commit.oid})
        paths: set[str] = set()
        for file_path in commit.files:
            if not file_path.startswith(prefix):
                continue
            parts = file_path[len(prefix):].split("/")
            depth = len(parts) if request.flag("recursive") else 1
            paths.update(prefix + "/".join(parts[: i + 1]) for i in range(min(depth, len(parts))))
        return json_response(self._entries(repo, commit, sorted(paths), request.flag("expand")))

    def paths_info(self, request: Request) -> Response:
        repo = self._repo(request)
        commit = repo.resolve(request.params["rev"])
        form = parse_qs(request.body.decode())
        if request.headers.get_content_type() == "application/json":  # both encodings are accepted
            form = {k: v if isinstance(v, list) else [str(v)] for k, v in request.json().items()}
        paths = [p.strip("/") for p in form.get("paths", [])]
        expand = (form.get("expand") or ["false"])[-1].lower() == "true"
        return json_response(self._entries(repo, commit, paths, expand))

    def resolve(self, request: Request) -> Response:
        repo = self._repo(request)
        commit = repo.resolve(request.params["rev"])
        path = request.params["path"]
        headers = {"X-Repo-Commit": commit.oid}
        entry = commit.files.get(path)
        if entry is None:
            raise HTTPError(404, f"Entry not found: {path}", code="EntryNotFound", headers=headers)
        data = self._blob(entry)
        etag = entry.sha256 if entry.lfs else entry.blob_id
        headers.update({"ETag": f'"{etag}"', "Accept-Ranges": "bytes", "Content-Type": "application/octet-stream"})
        if entry.lfs:  # what the Hub sends for LFS files (normally on a redirect to the CDN)
            headers.update({"X-Linked-Etag": f'"{etag}"', "X-Linked-Size": str(entry.size)})
        byte_range = request.headers.get("Range")
        if not byte_range:
            return Response(200, data, headers)
        match = re.fullmatch(r"bytes=(\d*)-(\d*)", byte_range.strip())
        if not match or match.groups() == ("", ""):
            raise HTTPError(416, f"Bad Range header: {byte_range}", headers={"Content-Range": f"bytes */{len(data)}"})
        start_s, end_s = match.groups()
        if start_s:
            start, end = int(start_s), min(int(end_s) if end_s else len(data) - 1, len(data) - 1)
        else:  # suffix range: the last N bytes
            start, end = max(len(data) - int(end_s), 0), len(data) - 1
        if start >= len(data) or start > end:
            raise HTTPError(416, "Range not satisfiable", headers={"Content-Range": f"bytes */{len(data)}"})
        headers["Content-Range"] = f"bytes {start}-{end}/{len(data)}"
        return Response(206, data[start:end + 1], headers)

    # -- writing ---------------------------------------------------------------------------------------------

    def preupload(self, request: Request) -> Response:
        repo = self._repo(request, write=True)
        commit = repo.resolve(request.params["rev"])
        files = []
        for item in request.json().get("files", []):
            path, size = item["path"], int(item.get("size", 0))
            sample = base64.b64decode(item.get("sample", ""))
            lfs = size > 0 and (path.lower().endswith(LFS_SUFFIXES) or b"\0" in sample or size >= LFS_MIN_SIZE)
            existing = commit.files.get(path)
            # The client compares this oid with its own (sha256 for LFS, git blob id otherwise) to skip no-ops.
            oid = None if existing is None else (existing.sha256 if existing.lfs else existing.blob_id)
            files.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
        return json_response({"files": files, "commitOid": commit.oid})

    def lfs_batch(self, request: Request) -> Response:
        self._repo(request, write=True)
        body = request.json()
        if body.get("operation") != "upload":
            raise HTTPError(400, "Only the LFS 'upload' operation is supported by this test server")
        objects = []
        for obj in body.get("objects", []):
            oid, size = obj["oid"], int(obj["size"])
            if oid in self.blobs and len(self.blobs[oid]) == size:
                objects.append({"oid": oid, "size": size})  # already stored: no action needed
                continue
            ticket = secrets.token_hex(16)
            self.uploads[ticket] = (oid, size)
            objects.append({"oid": oid, "size": size, "authenticated": True,
                            "actions": {"upload": {"href": f"{self.base_url}/lfs-upload/{ticket}"}}})
        return json_response({"transfer": "basic", "objects": objects, "hash_algo": "sha256"},
                             headers={"Content-Type": "application/vnd.git-lfs+json"})

    def lfs_upload(self, request: Request) -> Response:
        ticket = self.uploads.pop(request.params["ticket"], None)
        if ticket is None:
            raise HTTPError(404, "Unknown or already used LFS upload URL")
        oid, size = ticket
        if len(request.body) != size or hashlib.sha256(request.body).hexdigest() != oid:
            raise HTTPError(400, f"Uploaded content does not match oid {oid} / size {size}")
        self.blobs[oid] = request.body
        return Response(200, b"", {"ETag": f'"{oid}"'})

    def commit(self, request: Request) -> Response:
        repo = self._repo(request, write=True)
        branch = request.params["rev"]
        if request.flag("create_pr"):
            raise HTTPError(400, "Pull requests (create_pr) are not supported by this test server")
        if branch not in repo.branches:
            raise HTTPError(404, f"Branch {branch!r} not found (commits go to a branch)", code="RevisionNotFound")
        lines = [json.loads(line) for line in request.body.decode().splitlines() if line.strip()]
        if not lines or lines[0].get("key") != "header":
            raise HTTPError(400, "Commit payload must start with a 'header' line")
        header = lines[0]["value"]
        head = repo.resolve(branch)
        if header.get("parentCommit") and header["parentCommit"] != head.oid:
            raise HTTPError(412, f"A commit has happened since {header['parentCommit']}: {branch} is at {head.oid}")
        files, new_blobs = dict(head.files), {}
        for line in lines[1:]:
            key, value = line.get("key"), line.get("value", {})
            path = value.get("path", "").strip("/")
            if key == "file":
                data = base64.b64decode(value["content"])
                files[path] = FileEntry.make(data, lfs=False)
                new_blobs[files[path].sha256] = data
            elif key == "lfsFile":
                oid = value["oid"]
                if oid not in self.blobs:
                    raise HTTPError(422, f"LFS object {oid} for {path!r} was never uploaded")
                files[path] = FileEntry.make(self.blobs[oid], lfs=True)
            elif key == "deletedFile":
                if files.pop(path, None) is None:
                    raise HTTPError(404, f"A file with this name doesn't exist: {path}", code="EntryNotFound")
            elif key == "deletedFolder":
                files = {p: f for p, f in files.items() if not p.startswith(path + "/")}
            else:
                raise HTTPError(400, f"Unsupported commit operation {key!r}")
        self.blobs.update(new_blobs)
        commit = repo.add_commit(branch, files, header.get("summary") or "Update", header.get("description") or "")
        return json_response({"commitUrl": f"{self.base_url}/{repo.url_path}/commit/{commit.oid}",
                              "commitOid": commit.oid, "success": True, "pullRequestUrl": None})


# ---------------------------------------------------------------------------------------------------------------
# Transport: stdlib ThreadingHTTPServer over HubApp
# ---------------------------------------------------------------------------------------------------------------


class _HubRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the clients expect; every answer has a Content-Length
    server: HubServer

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline().strip():  # trailers, then the final empty line
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        url = urlsplit(self.path)
        request = Request(self.command, url.path, parse_qs(url.query, keep_blank_values=True), self.headers,
                          self._read_body())
        response = self.server.app.dispatch(request)
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(response.body)

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = _handle

    def log_message(self, format, *args):  # noqa: A002 - silence per-request stderr lines (app.log has them)
        pass


class HubServer(ThreadingHTTPServer):
    """The test Hub on a real socket. The port is bound at construction (so it can be reserved early and handed to
    clients before anything imports them) but connections are only accepted after `start()`.

    Args:
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        users: token -> username (default `DEFAULT_USERS`).
    """

    daemon_threads = True

    def __init__(self, host: str = "127.0.0.1", port: int = 0, users: dict[str, str] | None = None):
        super().__init__((host, port), _HubRequestHandler, bind_and_activate=False)
        self.server_bind()
        self.url = f"http://{host}:{self.server_address[1]}"
        self.app = HubApp(users, base_url=self.url)
        self._thread: threading.Thread | None = None

    def start(self) -> HubServer:
        if self._thread is None:
            self.server_activate()
            self._thread = threading.Thread(target=self.serve_forever, name="hub-test-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join()
            self._thread = None
        self.server_close()

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="Run the wire-compatible Hub test server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    server = HubServer(args.host, args.port).start()
    print(f"Hub test server on {server.url}, users: {', '.join(server.app.users.values())}; Ctrl+C to stop")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

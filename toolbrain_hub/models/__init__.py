"""Models: built-in offline models, locating and loading any model, the chat interface (local or endpoint), tiny test
models.
"""

from __future__ import annotations

from .builtin import (
    BUILTIN_MODELS,
    DEFAULT_MODEL,
    SOURCE_FILE,
    TINY_MODEL,
    BuiltinModel,
    DataPart,
    ModelError,
    assemble_gguf,
    builtin_model_source,
    cache_dir,
    gguf_source,
    gguf_summary,
    is_prepared,
    prepare_model,
    prepared_path,
)
from .loading import (
    FINGERPRINT_FILES,
    ModelSource,
    cpu_has_bf16,
    describe_provenance,
    gpu_has_bf16,
    load_model,
    load_tokenizer,
    locate_model,
    model_fingerprint,
    model_provenance,
    pick_device,
    pick_dtype,
    provenance_difference,
    quantization_config,
    resolve_model_path,
    set_threads,
)

__all__ = [
    "BUILTIN_MODELS", "BuiltinModel", "DEFAULT_MODEL", "DataPart", "FINGERPRINT_FILES", "ModelError", "ModelSource",
    "SOURCE_FILE", "TINY_MODEL", "assemble_gguf", "builtin_model_source", "cache_dir", "cpu_has_bf16",
    "describe_provenance", "gguf_source", "gguf_summary", "gpu_has_bf16", "is_prepared", "load_model", "load_tokenizer",
    "locate_model", "model_fingerprint", "model_provenance", "pick_device", "pick_dtype", "prepare_model",
    "prepared_path", "provenance_difference", "quantization_config", "resolve_model_path", "set_threads"
]

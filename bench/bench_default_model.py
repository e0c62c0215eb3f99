"""Default model: first prepare (verify + join + dequantize into an empty cache), warm load, peak RSS, greedy tok/s.

Run: .venv/bin/python bench/bench_default_model.py [--threads 2] [--skip-prepare]
The first-prepare measurement writes a second 2.4 GB copy into a temporary cache and deletes it afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import peak_rss_gb, report  # noqa: E402

from toolbrain_hub.models import DEFAULT_MODEL, load_model, prepare_model, set_threads  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--skip-prepare", action="store_true", help="don't time a fresh prepare")
    parser.add_argument("--new-tokens", type=int, default=64)
    args = parser.parse_args()
    set_threads(args.threads)
    rows = []
    if not args.skip_prepare:
        cache = Path(tempfile.mkdtemp(prefix="tbh-bench-cache-"))
        try:
            start = time.perf_counter()
            prepare_model(DEFAULT_MODEL, cache=cache, progress=False)
            rows.append(("first prepare (verify, join, dequantize, save)", time.perf_counter() - start, "s"))
            start = time.perf_counter()
            prepare_model(DEFAULT_MODEL, cache=cache, progress=False)
            rows.append(("second prepare (cached)", time.perf_counter() - start, "s"))
        finally:
            shutil.rmtree(cache, ignore_errors=True)
    prepare_model(DEFAULT_MODEL, progress=False)
    start = time.perf_counter()
    model, tokenizer = load_model(DEFAULT_MODEL, device="cpu", progress=False)
    rows.append(("warm load (tokenizer + float weights)", time.perf_counter() - start, "s"))

    import torch

    messages = [{"role": "user", "content": "Write a Python function that checks whether a number is prime."}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.inference_mode():
        model.generate(**ids, max_new_tokens=4, do_sample=False)  # warm-up
        start = time.perf_counter()
        out = model.generate(**ids, max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens, do_sample=False)
        elapsed = time.perf_counter() - start
    new_tokens = out.shape[1] - ids["input_ids"].shape[1]
    rows.append(("greedy decode", new_tokens / elapsed, "tokens/s"))
    rows.append(("peak RSS", peak_rss_gb(), "GB"))
    rows.append(("threads", args.threads, ""))
    report("default_model", rows)


if __name__ == "__main__":
    main()

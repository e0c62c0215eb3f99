"""Helpers shared by the benchmark scripts: a results table on stdout and a JSON file in bench/out/."""

from __future__ import annotations

import json
import os
import platform
import resource
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"


def peak_rss_gb() -> float:
    """Peak resident memory of this process (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def machine() -> dict:
    import torch

    return {"cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "python": platform.python_version(),
            "torch": torch.__version__, "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "date": time.strftime("%Y-%m-%d")}


def report(name: str, rows: list[tuple[str, object, str]], extra: dict | None = None) -> Path:
    """Print a metric | value | unit table and write bench/out/<name>.json."""
    width = max(len(r[0]) for r in rows)
    print(f"\n{name}\n" + "-" * (width + 30))
    for metric, value, unit in rows:
        shown = (f"{value:.3f}" if abs(value) >= 1 or value == 0 else f"{value:.3g}") if isinstance(value, float) \
            else str(value)
        print(f"{metric:<{width}}  {shown:>14}  {unit}")
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{name}.json"
    data = {"benchmark": name, "machine": machine(), "results": {m: {"value": v, "unit": u} for m, v, u in rows}}
    path.write_text(json.dumps({**data, **(extra or {})}, indent=2))
    print(f"-> {path}")
    return path

"""GPU path check: GRPO with tools through `toolbrain_hub.train` in bf16 LoRA and 4-bit QLoRA on a CUDA device.

The model is a random Qwen2 with the exact shape of Qwen2.5-0.5B (896 hidden, 24 layers, 151,936 vocab), built
locally: the real weights cannot reach an offline GPU machine, and for timing and memory only the shapes matter.
Random weights write garbage, so every rollout runs to max_completion_length (a worst case for step time).

Run: python bench/gpu_check.py [--steps 4] [--small] [--unsloth on]   (--small: tiny shapes, for a CPU smoke run;
--unsloth on: load the model and LoRA with unsloth, in an environment made from requirements-unsloth.txt)
Prints a table and writes bench/out/gpu_check.json (or $OUT/gpu_check.json when OUT is set).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from toolbrain_hub.models.tiny import build_tiny_tokenizer  # noqa: E402
from toolbrain_hub.tasks import generate_tasks, save_tasks  # noqa: E402
from toolbrain_hub.training import read_metrics, train  # noqa: E402


def build_model(out: Path, small: bool) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    tokenizer = build_tiny_tokenizer()
    shape = dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=2) if small else dict(hidden_size=896, intermediate_size=4864,
                                                         num_hidden_layers=24, num_attention_heads=14,
                                                         num_key_value_heads=2)
    torch.manual_seed(0)
    config = Qwen2Config(vocab_size=151936 if not small else len(tokenizer), tie_word_embeddings=True,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id,
                         max_position_embeddings=4096, **shape)
    Qwen2ForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--small", action="store_true")
    parser.add_argument("--only", choices=["none", "4bit"], help="run one variant")
    parser.add_argument("--unsloth", choices=["auto", "on", "off"], default="auto",
                        help="TrainConfig.unsloth for every variant (default auto: used when installed)")
    args = parser.parse_args()
    import torch

    info = {"torch": torch.__version__, "cuda": torch.cuda.is_available(),
            "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"}
    print(json.dumps(info))
    work = Path(tempfile.mkdtemp(prefix="tbh-gpu-"))
    model_dir = build_model(work / "model", args.small)
    tools = Path(__file__).resolve().parents[1] / "tests" / "data" / "weather_openai.json"
    tasks_dir = work / "tasks"
    save_tasks(generate_tasks(str(tools), num=64, seed=0, progress=False), tasks_dir)
    results = {}
    for name, quant in [("bf16 LoRA", "none"), ("4-bit QLoRA (nf4)", "4bit")]:
        if args.only and quant != args.only:
            continue
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        result = train({"algorithm": "grpo", "model": str(model_dir), "tasks": str(tasks_dir),
                        "output_dir": str(work / f"run-{quant}"), "quantization": quant, "max_steps": args.steps,
                        "num_generations": 4, "per_device_train_batch_size": 4, "max_completion_length": 64,
                        "max_turns": 1, "save_steps": args.steps, "eval_steps": 0, "unsloth": args.unsloth},
                       progress=False)
        total = time.perf_counter() - start
        rows = read_metrics(result.output_dir)
        step_times = [r["step_time"] for r in rows if "step_time" in r]
        results[name] = {
            "steps": result.steps,
            "total_s": round(total, 1),
            "step_time_s_after_first": round(sum(step_times[1:]) / max(1, len(step_times) - 1), 3),
            "first_step_s": round(step_times[0], 3) if step_times else None,
            "peak_gpu_mem_gb": round(torch.cuda.max_memory_allocated() / 1024**3, 2) if torch.cuda.is_available()
            else None,
            "adapter_files": sorted(p.name for p in result.adapter_dir.iterdir()),
            "backend": next((line.split(" - ")[-1] for line in (Path(result.output_dir) / "train.log").read_text()
                             .splitlines() if "unsloth" in line), "not logged"),
            "log_tail": (Path(result.output_dir) / "train.log").read_text().splitlines()[-3:],
        }
        print(name, json.dumps(results[name]), flush=True)
    print(f"\n{'variant':<22}{'steps':>6}{'s/step':>10}{'first':>9}{'peak GB':>9}")
    for name, r in results.items():
        print(f"{name:<22}{r['steps']:>6}{r['step_time_s_after_first']:>10}{r['first_step_s']:>9}"
              f"{str(r['peak_gpu_mem_gb']):>9}")
    out = Path(os.environ.get("OUT") or Path(__file__).parent / "out")
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps({"machine": info, "results": results}, indent=2))


if __name__ == "__main__":
    main()

"""load_agent with the default model from a warm cache: a folder, merged, 4-bit, and a Hub repo read offline.

An agent for the default model is built locally (a LoRA adapter r=16 on q/k/v/o with random init, the training
tokenizer, and an AgentSpec with the weather tools) and pushed to the project's Hub test server
(tests/hub_server.py, real HTTP on 127.0.0.1), then downloaded once into a temporary HF cache. Each measurement is a
fresh Python process, as a user's script would be: it reports the imports (torch, transformers, smolagents, peft,
which imports bitsandbytes) and the `load_agent` call separately, and its peak RSS.

Run: .venv/bin/python bench/bench_load_agent.py [--threads 2] [--skip-4bit]
Prints a table and writes bench/out/load_agent.json.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Uploads to the test Hub go over plain HTTP/LFS: set before huggingface_hub is imported (it reads it once).
os.environ["HF_HUB_DISABLE_XET"] = "1"
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from common import report  # noqa: E402

TOOLS = ROOT / "tests" / "data" / "weather_openai.json"
# One user's script: import, then one load_agent call; prints its timings as JSON on the last line.
PROBE = """
import json, resource, sys, time
t0 = time.perf_counter()
import toolbrain_hub.agent
import peft  # what load_agent imports on first use (peft imports bitsandbytes when it is installed)
t1 = time.perf_counter()
agent = toolbrain_hub.agent.load_agent(sys.argv[1], **json.loads(sys.argv[2]))
t2 = time.perf_counter()
# The first reply token: weights are memory-mapped, so the first forward pass is what reads them all.
import torch
ids = agent.model.render(agent.spec.initial_messages("What's the weather in Paris?"))
with torch.inference_mode():
    agent.model.model.generate(input_ids=torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                               max_new_tokens=1, do_sample=False)
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "load_s": t2 - t1, "first_token_s": t3 - t2, "prompt_tokens": len(ids),
                  "tools": agent.spec.tool_names,
                  "peak_rss_gb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2}))
"""


def build_agent_folder(folder: Path) -> Path:
    """A default-model agent: random-init LoRA adapter + tokenizer + agent spec (what a run's adapter/ holds)."""
    from peft import LoraConfig, get_peft_model

    from toolbrain_hub.agent import AgentSpec
    from toolbrain_hub.models import DEFAULT_MODEL, load_model

    model, tokenizer = load_model(DEFAULT_MODEL, device="cpu", progress=False)
    config = LoraConfig(r=16, lora_alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"],
                        init_lora_weights=False, task_type="CAUSAL_LM")
    get_peft_model(model, config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    AgentSpec.for_training(DEFAULT_MODEL, tokenizer, str(TOOLS), system_prompt="You answer weather questions.",
                           max_turns=3, max_new_tokens=128).save(folder)
    return folder


def probe(source: str, env: dict, **kwargs) -> dict:
    proc = subprocess.run([sys.executable, "-c", PROBE, source, json.dumps(kwargs)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"load_agent({source!r}, {kwargs}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=2, help="OMP/torch threads of each probe process")
    parser.add_argument("--skip-4bit", action="store_true", help="don't time the 4-bit (bitsandbytes) load")
    args = parser.parse_args()

    from toolbrain_hub.models import DEFAULT_MODEL, prepare_model

    prepare_model(DEFAULT_MODEL, progress=False)  # warm cache: the prepared float copy exists
    work = Path(tempfile.mkdtemp(prefix="tbh-bench-load-agent-"))
    folder = build_agent_folder(work / "agent")
    adapter_mb = (folder / "adapter_model.safetensors").stat().st_size / 1e6

    sys.path.insert(0, str(ROOT / "tests"))
    from hub_server import HubServer

    server = HubServer().start()
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "HF_ENDPOINT": server.url,
           "HF_HOME": str(work / "hf-home"), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1"}
    for name in ("HF_TOKEN", "HF_HUB_OFFLINE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        env.pop(name, None)
    os.environ["HF_ENDPOINT"] = server.url  # toolbrain_hub.hub reads it at call time
    from toolbrain_hub import hub

    repo_id = "alice/weather-agent-default"
    hub.push_folder(folder, repo_id, token="hf_test_alice")
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"from toolbrain_hub import hub; hub.download({repo_id!r})"], check=True,
                   cwd=ROOT, env=env, capture_output=True)
    download_s = time.perf_counter() - start

    runs = {
        "folder": probe(str(folder), env, device="cpu", verbosity_level=0),
        "folder, merge=True": probe(str(folder), env, device="cpu", merge=True, verbosity_level=0),
        "Hub repo, offline from the HF cache": probe(repo_id, {**env, "HF_HUB_OFFLINE": "1"}, device="cpu",
                                                     verbosity_level=0),
    }
    before = len(server.app.log)
    runs["folder, again (page cache warm)"] = probe(str(folder), env, device="cpu", verbosity_level=0)
    if not args.skip_4bit:
        runs["folder, quantization='4bit'"] = probe(str(folder), env, device="cpu", quantization="4bit",
                                                    verbosity_level=0)
    assert server.app.log[before:] == [], "a folder or offline load must not touch the Hub"
    server.stop()

    rows = [(f"load_agent: {name}", run["load_s"], "s") for name, run in runs.items()]
    prompt = runs["folder"]["prompt_tokens"]
    rows += [(f"then the first reply token ({prompt}-token prompt): {name}", run["first_token_s"], "s")
             for name, run in runs.items()]
    rows.append(("imports (toolbrain_hub.agent + peft/bitsandbytes), typical", runs["folder"]["import_s"], "s"))
    rows.append(("fresh process total (imports + load_agent), folder",
                 runs["folder"]["import_s"] + runs["folder"]["load_s"], "s"))
    rows += [(f"peak RSS (after the first token): {name}", run["peak_rss_gb"], "GB") for name, run in runs.items()]
    rows.append(("download the agent repo once (localhost test Hub)", download_s, "s"))
    rows.append(("adapter size (r=16, q/k/v/o, float32)", adapter_mb, "MB"))
    rows.append(("threads", args.threads, ""))
    report("load_agent", rows, extra={"runs": runs})


if __name__ == "__main__":
    main()

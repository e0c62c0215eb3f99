"""GRPO on CPU with the default model: held-out tool-call accuracy before/after, reward curve, step-time profile.

Run: .venv/bin/python bench/bench_grpo_cpu.py --steps 60 --threads 2   (~32 min on 2 cores with bf16 units)

The paper's protocol: 60 GRPO steps, one task x 4 generations per step, LoRA r=16 on q/k/v/o, on the default
model (Qwen2.5-Coder-0.5B-Instruct, bfloat16; `--dtype float32` on a CPU without bf16 units) with
`toolbrain_hub.training.train` (TRL's GRPOTrainer, multi-turn tool calling). The tasks are schema-generated for a
small multi-tool set (bench/data/grpo_tools.json: weather, calculator, unit conversion, calendar; one-call, two-call
and no-tool requests); the held-out "test" split is evaluated with `toolbrain_hub.evaluation.evaluate` (greedy, the
run's agent spec, same dtype) before training and on the final adapter.

Where a step's time goes is measured by timing TRL's own methods (no change to TRL or the library):
generation (prefill and decode forwards separately, first turn and after the tool result), tool execution, rewards,
logprob passes outside the loss (old-policy / reference: none expected with beta=0 and num_iterations=1), the loss
forward, the backward and the optimizer step. Writes bench/out/grpo_cpu.json, the run folder bench/out/grpo_cpu_run
the reward curve bench/out/grpo_cpu_curve.png and the before/after bars bench/out/grpo_cpu_before_after.png.
"""

from __future__ import annotations

import argparse
import calendar
import gc
import os
import shutil
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import OUT, peak_rss_gb, report  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TOOLS = ROOT / "bench" / "data" / "grpo_tools.json"
# Short on purpose: every token of the prompt is processed 4x per generation turn and again in the loss pass.
SYSTEM_PROMPT = "Call a tool when the request needs one; otherwise answer."
# One call, two calls (two tools in one request: where the untrained model is weak) or a direct answer.
MIX = {"single": 0.45, "multi": 0.35, "no_tool": 0.2}
PHASES = ("prefill", "decode", "tools", "rewards", "extra_logprobs", "loss_forward", "backward", "optimizer")


class StepProfiler:
    """Times the parts of each GRPO step by wrapping GRPOTrainer/Accelerator methods and hooking the base model.

    Generation forwards are split by shape: a forward over more than one new position is a prefill (the prompt, or
    prompt + earlier turns + tool result after a tool call: TRL re-processes the whole sequence), a one-position
    forward is a decode step.
    """

    def __init__(self, stop_at: float | None = None):
        self.stop_at = stop_at
        self.stopped_early = False
        self._step_walls: list[float] = []
        self.steps: list[dict[str, float]] = []
        self.finished: list[dict[str, float]] = []
        self.current: dict[str, float] | None = None
        self._in_generation = False
        self._forward_start: float | None = None
        self._hooked: set[int] = set()

    def install(self) -> None:
        import accelerate
        import torch
        from trl import GRPOTrainer

        prof = self

        def wrap(cls, name, fn):
            original = getattr(cls, name)

            def wrapper(*args, **kwargs):
                return fn(original, *args, **kwargs)

            setattr(cls, name, wrapper)

        def generate_and_score(original, trainer, *args, **kwargs):
            # One generation per optimizer step (gradient_accumulation_steps=1): a new step's record starts here.
            if prof.current is not None:
                prof.finished.append(prof.current)
            prof.current = defaultdict(float)
            prof._hook(trainer.model)
            clock = prof.clock()
            out = original(trainer, *args, **kwargs)
            prof.add("rollout_total", clock)
            return out

        def single_turn(original, trainer, prompt_ids, *args, **kwargs):
            prof.current["generate_calls"] += 1
            prof.current["prompt_tokens_in"] += sum(len(p) for p in prompt_ids)
            prof._in_generation = True
            clock = prof.clock()
            try:
                out = original(trainer, prompt_ids, *args, **kwargs)
            finally:
                prof._in_generation = False
            prof.add("generation", clock)
            prof.current["generated_tokens"] += sum(len(c) for c in out[0])
            return out

        def tool_loop(original, trainer, *args, **kwargs):
            before = (prof.current["generation"], prof.current["cpu_generation"])
            clock = prof.clock()
            out = original(trainer, *args, **kwargs)
            # The loop runs the tools and regenerates: its time minus that regeneration is tool work.
            prof.add("tools", clock, minus=(prof.current["generation"] - before[0],
                                           prof.current["cpu_generation"] - before[1]))
            return out

        def rewards(original, trainer, *args, **kwargs):
            clock = prof.clock()
            out = original(trainer, *args, **kwargs)
            prof.add("rewards", clock)
            return out

        def logps(original, trainer, *args, **kwargs):
            clock = prof.clock()
            out = original(trainer, *args, **kwargs)
            key = "loss_logps" if torch.is_grad_enabled() else "extra_logprobs"
            prof.add(key, clock)
            if key == "extra_logprobs":
                prof.current["extra_logprob_passes"] += 1
            return out

        def compute_loss(original, trainer, *args, **kwargs):
            clock = prof.clock()
            out = original(trainer, *args, **kwargs)
            prof.add("loss_forward", clock)
            return out

        def backward(original, accelerator, *args, **kwargs):
            clock = prof.clock()
            out = original(accelerator, *args, **kwargs)
            if prof.current is not None:
                prof.add("backward", clock)
            return out

        def training_step(original, trainer, *args, **kwargs):
            clock = prof.clock()
            out = original(trainer, *args, **kwargs)
            if prof.current is not None:
                prof.add("training_step", clock)
            prof._step_walls.append(time.perf_counter() - clock[0])
            if prof.stop_at is not None:
                # Stop cleanly (the run saves its adapter and completes) when one more step would end after
                # `stop_at`: the Trainer checks this flag after each step.
                mean = sum(prof._step_walls) / len(prof._step_walls)
                if time.time() + mean > prof.stop_at:
                    trainer.control.should_training_stop = True
                    prof.stopped_early = True
            return out

        wrap(GRPOTrainer, "_generate_and_score_completions", generate_and_score)
        wrap(GRPOTrainer, "_generate_single_turn", single_turn)
        wrap(GRPOTrainer, "_tool_call_loop", tool_loop)
        wrap(GRPOTrainer, "_calculate_rewards", rewards)
        wrap(GRPOTrainer, "_get_per_token_logps_and_entropies", logps)
        wrap(GRPOTrainer, "compute_loss", compute_loss)
        wrap(GRPOTrainer, "training_step", training_step)
        wrap(accelerate.Accelerator, "backward", backward)

    def _hook(self, model) -> None:
        # The decoder stack under the PEFT/causal-LM wrappers: one forward per prefill or decode step.
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        body = getattr(base, "model", base)
        if id(body) in self._hooked:
            return
        self._hooked.add(id(body))
        body.register_forward_pre_hook(self._pre, with_kwargs=True)
        body.register_forward_hook(self._post, with_kwargs=True)

    @staticmethod
    def clock() -> tuple[float, float]:
        return time.perf_counter(), time.process_time()

    def add(self, key: str, clock: tuple[float, float], minus: tuple[float, float] = (0.0, 0.0)) -> None:
        """Add wall seconds to `key` and CPU seconds (all threads) to `cpu_<key>` since `clock`."""
        self.current[key] += time.perf_counter() - clock[0] - minus[0]
        self.current[f"cpu_{key}"] += time.process_time() - clock[1] - minus[1]

    def _pre(self, module, args, kwargs):
        if self._in_generation:
            self._forward_start = self.clock()

    def _post(self, module, args, kwargs, output):
        if not self._in_generation or self._forward_start is None:
            return
        ids = kwargs.get("input_ids", args[0] if args else None)
        if ids is None:
            ids = kwargs.get("inputs_embeds")
        clock, self._forward_start = self._forward_start, None
        if ids is not None and ids.shape[1] > 1:
            self.add("prefill", clock)
            self.current["prefill_tokens"] += ids.shape[0] * ids.shape[1]
        else:
            self.add("decode", clock)
            self.current["decode_steps"] += 1

    def end_step(self, index: int, step_time: float) -> None:
        """Record step `index` (0-based) with its wall time (from the run's metrics)."""
        if self.current is not None:
            self.finished.append(self.current)
            self.current = None
        if index >= len(self.finished):
            return
        row = dict(self.finished[index])
        row["step_time"] = step_time
        for prefix in ("", "cpu_"):
            row[f"{prefix}generation_other"] = (row.get(f"{prefix}generation", 0) - row.get(f"{prefix}prefill", 0)
                                                - row.get(f"{prefix}decode", 0))
        # compute_loss includes the loss's own logprob forward; training_step = rollout + loss + backward + rest.
        row["optimizer"] = max(step_time - row.get("training_step", 0), 0.0)
        self.steps.append(row)


def make_tasks(folder: Path, *, num: int, seed: int) -> None:
    from toolbrain_hub.tasks import generate_tasks, save_tasks

    taskset = generate_tasks(str(TOOLS), num=num, seed=seed, test_size=0.2, mix=MIX, system_prompt=SYSTEM_PROMPT,
                             progress=False)
    if folder.exists():
        shutil.rmtree(folder)
    save_tasks(taskset, folder, pretty_name="GRPO CPU benchmark tasks")


def held_out(folder: Path, limit: int) -> list[dict]:
    from toolbrain_hub.tasks import load_tasks

    test = load_tasks(str(folder), split="test")
    return [dict(row) for row in test.select(range(min(limit, len(test))))]


def run_eval(model_or_run, rows, spec, args) -> dict:
    from toolbrain_hub.evaluation import evaluate

    start = time.perf_counter()
    result = evaluate(model_or_run, rows, spec=spec, batch_size=args.eval_batch_size, threads=args.threads,
                      device="cpu", dtype=args.dtype, progress=False)
    return {"result": result, "elapsed_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--model", default=None, help="policy (default: the default model); "
                                                      "'tiny-random-qwen2' checks the script in seconds")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--num-tasks", type=int, default=200, help="generated tasks (80%% train, 20%% test)")
    parser.add_argument("--eval-tasks", type=int, default=40, help="held-out tasks evaluated before and after")
    parser.add_argument("--eval-batch-size", type=int, default=20)
    parser.add_argument("--skip-eval", action="store_true", help="profile the steps only")
    parser.add_argument("--learning-rate", type=float, default=2e-4)
    parser.add_argument("--max-completion-length", type=int, default=128)
    parser.add_argument("--max-turns", type=int, default=2, help="tool-calling iterations per rollout")
    parser.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16"],
                        help="weights' dtype for training and both evaluations (bfloat16 needs a CPU with bf16 "
                             "units to be fast: AVX512-BF16 or AMX)")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--gradient-checkpointing", default="false", choices=["true", "false"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--name", default="grpo_cpu", help="output name in bench/out/")
    parser.add_argument("--deadline", default=None,
                        help="UTC time HH:MM by which everything must be done: training stops early (and says so) "
                             "when one more step plus the final evaluation would not fit")
    args = parser.parse_args()

    import torch

    from toolbrain_hub.agent import render_prompt_ids
    from toolbrain_hub.config import LoraSettings, TrainConfig
    from toolbrain_hub.models import DEFAULT_MODEL, load_tokenizer, locate_model
    from toolbrain_hub.runs.plots import plot_reward_curves
    from toolbrain_hub.training import read_metrics, train
    from toolbrain_hub.training.phases import make_agent_spec
    from toolbrain_hub.training.task_data import load_task_data

    torch.set_num_threads(args.threads)
    model = args.model or DEFAULT_MODEL
    OUT.mkdir(exist_ok=True)
    tasks_dir = OUT / f"{args.name}_tasks"
    run_dir = OUT / f"{args.name}_run"
    make_tasks(tasks_dir, num=args.num_tasks, seed=args.seed)
    if run_dir.exists():
        shutil.rmtree(run_dir)

    config = TrainConfig(
        algorithm="grpo", model=model, tasks=str(tasks_dir), learning_rate=args.learning_rate,
        max_steps=args.steps, num_generations=4, per_device_train_batch_size=4, max_turns=args.max_turns,
        max_completion_length=args.max_completion_length, temperature=args.temperature, beta=0.0, seed=args.seed,
        eval_steps=0, eval_tasks=args.eval_tasks, save_steps=0, threads=args.threads,
        gradient_checkpointing=args.gradient_checkpointing == "true", device="cpu", dtype=args.dtype,
        eval_batch_size=args.eval_batch_size, output_dir=str(run_dir),
        lora=LoraSettings(r=16, alpha=32, target_modules=["q_proj", "k_proj", "v_proj", "o_proj"]),
    ).validate()

    # The agent spec the run will train with (prompt, tools, template, parser, limits): the "before" evaluation
    # prompts the untrained model exactly as the trained one is prompted after.
    source = locate_model(model, progress=False)
    tokenizer = load_tokenizer(source.path, revision=source.revision)
    data = load_task_data(config, tokenizer)
    spec = make_agent_spec(config, tokenizer, data, source)
    lengths = [len(render_prompt_ids(spec, tokenizer, row["prompt"])) for row in list(data.train)[:20]]
    data.close()
    rows = held_out(tasks_dir, args.eval_tasks)

    results: dict = {"settings": {**vars(args), "system_prompt": SYSTEM_PROMPT, "mix": MIX,
                                  "train_tasks": len(data.train), "eval_tasks": len(rows),
                                  "prompt_tokens_sample": lengths, "config": config.to_dict(),
                                  "load_avg_start": os.getloadavg()}}
    before = after = None
    if not args.skip_eval:
        before = run_eval(model, rows, spec, args)
        before["result"].save(OUT / f"{args.name}_eval_before")
        gc.collect()

    stop_at = None
    if args.deadline:
        hour, minute = (int(x) for x in args.deadline.split(":"))
        now = time.gmtime()
        stop_at = calendar.timegm((now.tm_year, now.tm_mon, now.tm_mday, hour, minute, 0))
        # Leave room for the "after" evaluation (as long as the "before" one took) and the adapter save.
        stop_at -= (before["elapsed_s"] * 1.2 if before else 0.0) + 60
    profiler = StepProfiler(stop_at=stop_at)
    profiler.install()
    start = time.perf_counter()
    result = train(config, progress=True)
    train_wall = time.perf_counter() - start
    metrics = [r for r in read_metrics(run_dir) if r.get("kind") == "train"]
    for index, row in enumerate(metrics):
        profiler.end_step(index, float(row.get("step_time", 0.0)))
    gc.collect()

    if not args.skip_eval:
        after = run_eval(str(result.adapter_dir), rows, spec, args)
        after["result"].save(OUT / f"{args.name}_eval_after")

    curve = OUT / f"{args.name}_curve.png"
    plot_reward_curves(run_dir, curve, title=f"GRPO on CPU: {model}, {len(metrics)} steps x 4 generations")
    if before is not None and after is not None:
        from toolbrain_hub.evaluation import compare

        compare(before["result"], after["result"], labels=("untrained", f"after {len(metrics)} GRPO steps")).plot(
            OUT / f"{args.name}_before_after.png", title=f"Held-out tasks ({len(rows)}), greedy: {model}")

    step_times = [float(r["step_time"]) for r in metrics if "step_time" in r]
    mean = {k: sum(s.get(k, 0.0) for s in profiler.steps) / max(len(profiler.steps), 1)
            for k in sorted({k for s in profiler.steps for k in s})}
    rows_out: list[tuple[str, object, str]] = [
        ("steps completed" + (" (stopped early by --deadline)" if profiler.stopped_early else ""), len(metrics), ""),
        ("mean step time", sum(step_times) / max(len(step_times), 1), "s"),
        ("sum of step times (the 60-step protocol's training time)", sum(step_times), "s"),
        ("train() wall time (model load, steps, adapter save)", train_wall, "s"),
    ]
    for key in ("training_step", "rollout_total", "generation", "prefill", "decode", "generation_other", "tools",
                "rewards", "extra_logprobs", "loss_forward", "backward", "optimizer"):
        rows_out.append((f"profile: {key} (mean per step, wall)", mean.get(key, 0.0), "s"))
        if f"cpu_{key}" in mean:
            # CPU seconds of all threads: on a loaded machine, CPU / threads estimates the quiet wall time.
            rows_out.append((f"profile: {key} (mean per step, CPU / threads)", mean[f"cpu_{key}"] / args.threads,
                             "s"))
    for key in ("generate_calls", "prefill_tokens", "decode_steps", "generated_tokens", "extra_logprob_passes"):
        rows_out.append((f"profile: {key} (mean per step)", mean.get(key, 0.0), ""))
    first = metrics[:5]
    last = metrics[-5:]
    rows_out += [("reward, first 5 steps (mean)", _avg(first, "reward"), ""),
                 ("reward, last 5 steps (mean)", _avg(last, "reward"), ""),
                 ("tool calls per rollout, first/last 5", f"{_avg(first, 'tools/call_frequency'):.2f} / "
                                                          f"{_avg(last, 'tools/call_frequency'):.2f}", "")]
    evals = {}
    for label, ev in (("before", before), ("after", after)):
        if ev is None:
            continue
        m = ev["result"].metrics
        evals[label] = {"metrics": m, "elapsed_s": ev["elapsed_s"]}
        for key in ("tool_call_accuracy", "correctness", "ast_accuracy", "tool_name_accuracy", "no_tool_precision",
                    "invalid_call_rate", "native_format_rate"):
            rows_out.append((f"held-out {key} ({label})", m.get(key), ""))
        rows_out.append((f"held-out eval time ({label})", ev["elapsed_s"], "s"))
    rows_out.append(("peak RSS", peak_rss_gb(), "GB"))
    results.update({"steps": profiler.steps, "metrics": metrics, "profile_mean": mean, "eval": evals,
                    "train_wall_s": train_wall, "stopped_early": profiler.stopped_early, "curve": str(curve),
                    "run_dir": str(run_dir),
                    "load_avg_end": os.getloadavg()})
    report(args.name, [(m, v if v is not None else "n/a", u) for m, v, u in rows_out], extra=results)


def _avg(rows: list[dict], key: str) -> float:
    values = [float(r[key]) for r in rows if isinstance(r.get(key), int | float)]
    return sum(values) / len(values) if values else float("nan")


if __name__ == "__main__":
    main()

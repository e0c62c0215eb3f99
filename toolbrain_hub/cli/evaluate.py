"""`toolbrain-hub eval MODEL_OR_RUN --tasks REPO_OR_DIR [--baseline MODEL] [--judge MODEL_OR_URL]`: evaluate an agent,
print the table.

Bad input (a path that is no model, adapter or run; a folder or repo that is not a task dataset; a bad split) ends with
one line on stderr and exit code 2.

Evaluating a run folder without `--out` writes into a new folder `<run>/eval/<task set>-<time>/`: the run's own
evaluation (its eval.json, before/after, what `publish` puts on the model card) is never overwritten.
"""

from __future__ import annotations

import json
from pathlib import Path

from .common import positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "eval", help="evaluate a model, adapter or training run on held-out tasks (optionally before/after)",
        description="Run each task as a multi-turn episode (greedy, prompted as in training) and report correctness, "
                    "hallucination and no-answer rates, tool-call accuracy, invalid-call rate, average turns, and "
                    "no-tool precision, overall and by kind and difficulty.")
    p.add_argument("model", metavar="MODEL_OR_RUN",
                   help="a training run folder, an adapter folder with agent_spec.json, a built-in model name, a model "
                        "folder, a Hub model id, or an OpenAI-compatible URL (URL#model)")
    p.add_argument("--tasks", required=True, metavar="REPO_OR_DIR",
                   help="task dataset folder or Hub dataset repo id; or a request file (.json with 'tools' and "
                        "'requests', e.g. bench/heldout/travel.json) or a folder of them (its split is 'test')")
    p.add_argument("--split", default="test", help="split to evaluate (default: test)")
    p.add_argument("--limit", type=positive_int, metavar="N", help="evaluate only the first N tasks")
    p.add_argument("--out", metavar="DIR",
                   help="write eval.json, traces.jsonl and eval.md here (default for a run folder: a new folder "
                        "<run>/eval/<task set>-<time>; the run's own eval.json is never overwritten)")
    p.add_argument("--baseline", metavar="MODEL",
                   help="also evaluate this model (e.g. the base model) and print a before/after table")
    p.add_argument("--max-turns", type=positive_int, metavar="N", help="model turns per episode (default: the "
                                                                          "agent spec's)")
    p.add_argument("--max-new-tokens", type=positive_int, metavar="N", help="tokens per model turn (default: the "
                                                                               "agent spec's)")
    p.add_argument("--batch-size", type=positive_int, default=8, help="episodes generated together (default 8)")
    p.add_argument("--implementations", metavar="FILE_OR_MODULE",
                   help="run the tools with these Python functions (runs the file's code) instead of schema-only")
    p.add_argument("--judge", metavar="MODEL_OR_URL",
                   help="label each answer CORRECT / INCORRECT / NO_ANSWER against the task's gold answer with this "
                        "LLM judge (an OpenAI-compatible URL#model, sent $TOOLBRAIN_ENDPOINT_TOKEN, or a model name, "
                        "folder or Hub id) and report the judged correct, hallucination and no-answer rates")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device for local models")
    p.add_argument("--dtype", default="auto", choices=["auto", "float32", "bfloat16", "float16"],
                   help="weights' dtype for local models (auto: bf16 on a GPU with it, else float32; bfloat16 is "
                        "about 2x faster on a CPU with bf16 units)")
    p.add_argument("--threads", type=positive_int, help="torch CPU threads (default: torch's)")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON instead of a table")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_eval)


def _eval(args) -> int:
    from ..evaluation.comparison import evaluate_before_after
    from ..evaluation.evaluator import evaluate
    from ..runs.folder import is_run_folder

    settings = dict(split=args.split, limit=args.limit, max_turns=args.max_turns, max_new_tokens=args.max_new_tokens,
                    batch_size=args.batch_size, progress=not args.no_progress, implementations=args.implementations,
                    device=args.device, dtype=args.dtype, threads=args.threads, judge=args.judge)
    run_dir = Path(args.model) if is_run_folder(args.model) else None
    out = Path(args.out) if args.out else (new_eval_folder(run_dir, args.tasks) if run_dir is not None else None)
    # A bad model, task set or implementation raises a ToolBrainError: `cli.main` prints it and exits with 2.
    if args.baseline:
        # The baseline runs with the evaluated agent's episode limits.
        comparison = evaluate_before_after(args.model, args.baseline, args.tasks, folder=out, **settings)
        if args.json:
            print(json.dumps(comparison.to_dict(), indent=2, default=str))
        else:
            print(f"before: {args.baseline}\nafter:  {args.model}\n")
            print(comparison.to_markdown())
    else:
        after = evaluate(args.model, args.tasks, **settings)
        if args.json:
            print(json.dumps({"metrics": after.metrics, "breakdown": after.breakdown}, indent=2, default=str))
        else:
            print(after.to_markdown(title=f"Evaluation of {args.model}"))
        if out is not None:
            after.save(out)
    if out is not None:
        print(f"results written to {out}")
    return 0


def new_eval_folder(run_dir: Path, tasks: str) -> Path:
    """A folder of its own for one more evaluation of a run: `<run>/eval/<task set>-<YYYYmmdd-HHMMSS>` (never one that
    exists, so neither the training's evaluation nor an earlier one is overwritten).

    Args:
        run_dir: The run folder.
        tasks: The task set argument (a folder or a Hub dataset repo id): its last part names the folder.
    """
    import re
    import time

    from ..runs.folder import EVAL_AFTER, EVAL_BEFORE, EVAL_DIR

    name = re.sub(r"[^A-Za-z0-9._-]+", "-", Path(str(tasks).rstrip("/\\")).name).strip(".-") or "tasks"
    if name in (EVAL_BEFORE, EVAL_AFTER):  # the training's own evaluations live there
        name = f"tasks-{name}"
    stem = run_dir / EVAL_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    folder, n = stem, 1
    while folder.exists():
        n += 1
        folder = stem.with_name(f"{stem.name}-{n}")
    return folder

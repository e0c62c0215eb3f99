"""`toolbrain-hub tools validate FILE`, `toolbrain-hub tasks generate ...`, `toolbrain-hub tasks import SOURCE
--format F --out DIR`, `toolbrain-hub tasks concat DIR DIR... --out DIR`, `toolbrain-hub tasks push DIR --repo ID`.

Bad input (a broken schema file, a folder that is not a task dataset, a Hub error) ends with one line on stderr and
exit code 2: `cli.main` turns every ToolBrainError (ToolSchemaError, TaskError, HubError, ChatError...) into that.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .common import fail, fraction, positive_int


def register(subparsers) -> None:
    tools = subparsers.add_parser("tools", help="check tool definitions (OpenAI or MCP JSON)")
    tools_sub = tools.add_subparsers(dest="tools_command", metavar="ACTION", required=True)
    validate = tools_sub.add_parser("validate", help="validate a tool file; exit code 2 with the problem if invalid")
    validate.add_argument("file", help="JSON file: OpenAI tools list / {'tools': [...]}, or an MCP tools/list result")
    validate.add_argument("--json", action="store_true", help="print the normalized tools as JSON (OpenAI format)")
    validate.set_defaults(func=_validate)

    tasks = subparsers.add_parser("tasks", help="generate and publish tool-use task datasets")
    tasks_sub = tasks.add_subparsers(dest="tasks_command", metavar="ACTION", required=True)
    gen = tasks_sub.add_parser("generate", help="generate validated tasks from a tool file into a dataset folder")
    gen.add_argument("--tools", required=True, help="tool definitions file (OpenAI or MCP JSON)")
    gen.add_argument("--num", type=positive_int, default=100, help="number of tasks to keep (default 100)")
    gen.add_argument("--generator", default="schema",
                     help="'schema' (offline, default), a model name/folder/Hub id, or an OpenAI-compatible URL "
                          "(URL#model to name the model; the endpoint token comes from $TOOLBRAIN_ENDPOINT_TOKEN)")
    gen.add_argument("--seed", type=int, default=0)
    gen.add_argument("--test-size", type=fraction, default=0.2, help="fraction in the test split (default 0.2)")
    gen.add_argument("--out", required=True, help="output folder (data/*.parquet, tools.json, README.md card)")
    gen.add_argument("--push", metavar="REPO_ID", help="also push the folder to this Hub dataset repo")
    gen.add_argument("--private", action="store_true", help="create the pushed repo as private")
    gen.add_argument("--license", default="apache-2.0", help="license in the dataset card (default apache-2.0)")
    gen.add_argument("--max-retries", type=int, default=2, help="re-asks per task before dropping it (default 2)")
    gen.add_argument("--temperature", type=float, default=0.7, help="sampling temperature for a model generator")
    gen.add_argument("--workers", type=positive_int, default=2, help="parallel requests to an endpoint")
    gen.add_argument("--paraphrase", metavar="MODEL_OR_URL",
                     help="also have this chat model (name, folder, Hub id or OpenAI-compatible URL) rewrite each "
                          "request in everyday words; a rewrite is kept only if every argument value survives")
    gen.add_argument("--no-progress", action="store_true", help="no progress bar")
    gen.set_defaults(func=_generate)

    imp = tasks_sub.add_parser(
        "import", help="convert a public function-calling dataset (xLAM, Glaive, ToolACE) into a task dataset folder",
        description="Each row becomes a task with its own tools: its first user request, the tools it offers (as JSON "
                    "Schemas) and the calls the assistant makes. Rows that cannot be converted are counted by reason "
                    "and the first reasons are printed.")
    imp.add_argument("source", help="a .json/.jsonl/.parquet file, a folder of them, or a Hub dataset repo id")
    # Checked by `import_tasks` (an unknown one exits with 2), so that building the parser imports no library code.
    imp.add_argument("--format", required=True, metavar="xlam|glaive|toolace",
                     help="the dataset's layout: xlam (query, tools, answers), glaive (system, chat) or toolace "
                          "(system, conversations)")
    where = imp.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", help="new task dataset folder (data/*.parquet, tools.json, README.md card)")
    where.add_argument("--into", metavar="DIR",
                       help="add the imported tasks to this task dataset folder (e.g. generated tasks, so training on "
                            "it does not forget general tool use); the folder is rewritten")
    imp.add_argument("--limit", type=positive_int, metavar="N", help="keep at most N tasks")
    imp.add_argument("--test-size", type=fraction, default=0.2, help="fraction in the test split (default 0.2)")
    imp.add_argument("--seed", type=int, default=0, help="seed of the split")
    imp.add_argument("--revision", help="branch or commit of a Hub dataset repo")
    imp.add_argument("--license", default="other",
                     help="license in the dataset card (default 'other': check the source dataset's license)")
    imp.set_defaults(func=_import)

    cat = tasks_sub.add_parser("concat", help="combine task dataset folders into one (split by split)")
    cat.add_argument("folders", nargs="+", metavar="DIR", help="task dataset folders or Hub dataset repo ids")
    cat.add_argument("--out", required=True, help="the combined task dataset folder")
    cat.add_argument("--license", default="apache-2.0", help="license in the dataset card (default apache-2.0)")
    cat.set_defaults(func=_concat)

    push = tasks_sub.add_parser("push", help="push a task dataset folder to a Hub dataset repo")
    push.add_argument("folder", help="folder written by `tasks generate`")
    push.add_argument("--repo", required=True, metavar="REPO_ID", help="'user/name' (or 'name' for your namespace)")
    push.add_argument("--private", action="store_true", help="create the repo as private")
    push.set_defaults(func=_push)



def _validate(args) -> int:
    from ..tools.schemas import load_tools

    specs = load_tools(args.file)
    if args.json:
        print(json.dumps([s.to_openai() for s in specs], indent=2, ensure_ascii=False))
        return 0
    print(f"{args.file}: {len(specs)} valid tool{'s' if len(specs) != 1 else ''}")
    for spec in specs:
        required = set(spec.required)
        params = ", ".join(f"{k}{'' if k in required else '?'}" for k in spec.properties)
        print(f"  {spec.name}({params})")
    return 0


def _generate(args) -> int:
    from ..models.chat import endpoint_token
    from ..tasks.generation import generate_tasks
    from ..tasks.taskset import push_tasks, save_tasks
    from ..tools.schemas import load_tools

    specs = load_tools(args.tools)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return fail(f"--out {out}: exists and is not a folder")
    taskset = generate_tasks(specs, num=args.num, generator=args.generator, seed=args.seed, test_size=args.test_size,
                             max_retries=args.max_retries, temperature=args.temperature, workers=args.workers,
                             progress=not args.no_progress, token=endpoint_token(), paraphrase=args.paraphrase)
    report = taskset.report
    if report.kept == 0:
        reasons = ", ".join(f"{k} {v}" for k, v in report.rejected.items()) or "none"
        return fail(f"no valid task was generated in {report.attempts} attempts (rejected: {reasons})")
    save_tasks(taskset, out, license=args.license, repo_id=args.push)
    splits = ", ".join(f"{name} {len(split)}" for name, split in taskset.dataset.items())
    print(f"kept {report.kept}/{report.requested} tasks ({splits}) in {report.elapsed_s:.1f} s, "
          f"acceptance {report.acceptance_rate:.0%}, generator {report.generator}")
    if report.dropped:
        print("dropped: " + ", ".join(f"{k} {v}" for k, v in report.dropped.items()))
    if report.paraphrase:
        kept = ", ".join(f"{k} {v}" for k, v in report.paraphrase["kept_original"].items())
        print(f"paraphrased {report.paraphrase['rewritten']}/{report.paraphrase['asked']} requests"
              + (f" (kept the original: {kept})" if kept else ""))
    cov = report.coverage
    print("kinds: " + ", ".join(f"{k} {v}" for k, v in cov["kind"].items()) + "; difficulty: " +
          ", ".join(f"{k} {v}" for k, v in cov["difficulty"].items()))
    if cov["tools_uncovered"]:
        print("tools without tasks: " + ", ".join(cov["tools_uncovered"]), file=sys.stderr)
    print(f"saved to {out}")
    if args.push:
        url = push_tasks(out, args.push, private=args.private)
        print(f"pushed to {url}")
    return 0


def _import(args) -> int:
    from ..tasks.importers import import_tasks
    from ..tasks.taskset import check_task_folder, concat_tasks, save_tasks

    target = Path(args.out or args.into)
    if args.out and target.exists() and not target.is_dir():
        return fail(f"--out {target}: exists and is not a folder")
    if args.into:
        check_task_folder(target)  # before reading the source: a wrong folder fails fast
    # A bad file or a source with no convertible row raises TaskError: `cli.main` prints it and exits with 2.
    imported = import_tasks(args.source, args.format, limit=args.limit, test_size=args.test_size, seed=args.seed,
                            revision=args.revision)
    report = imported.report
    splits = ", ".join(f"{name} {len(split)}" for name, split in imported.dataset.items())
    print(f"imported {report.kept} of {report.attempts} rows ({splits}) from {args.source} as {args.format}")
    print("kinds: " + ", ".join(f"{k} {v}" for k, v in report.coverage["kind"].items() if v)
          + f"; {len(imported.tools)} distinct tools")
    if report.settings.get("renamed_tools"):
        print(f"{report.settings['renamed_tools']} tool names rewritten to be valid tool names (e.g. "
              + ", ".join(f"{old!r} -> {new!r}" for old, new in list(report.settings["renamed_examples"].items())[:3])
              + ")")
    if report.rejected:
        print(f"not converted: {report.attempts - report.kept} rows ("
              + ", ".join(f"{k} {v}" for k, v in report.rejected.items()) + "); first:", file=sys.stderr)
        for example in report.examples[:5]:
            print(f"  {example}", file=sys.stderr)
    if args.into:
        combined = concat_tasks(target, imported)
        save_tasks(combined, target, license=args.license)
        print(f"added to {target}: now {len(combined)} tasks "
              f"({combined.report.settings['duplicates_dropped']} already there)")
    else:
        save_tasks(imported, target, license=args.license)
        print(f"saved to {target}")
    return 0


def _concat(args) -> int:
    from ..tasks.taskset import concat_tasks, save_tasks

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        return fail(f"--out {out}: exists and is not a folder")
    combined = concat_tasks(*args.folders)
    save_tasks(combined, out, license=args.license, replace=False)
    splits = ", ".join(f"{name} {len(split)}" for name, split in combined.dataset.items())
    print(f"combined {len(args.folders)} task sets into {len(combined)} tasks ({splits}), "
          f"{combined.report.settings['duplicates_dropped']} duplicates dropped; saved to {out}")
    return 0


def _push(args) -> int:
    from ..tasks.taskset import check_task_folder, push_tasks

    check_task_folder(args.folder)
    url = push_tasks(args.folder, args.repo, private=args.private)
    print(f"pushed {args.folder} to {url}")
    return 0

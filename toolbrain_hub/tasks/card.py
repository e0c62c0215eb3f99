"""The dataset card (README.md) of a task set, rendered from `datasets_cards/tasks.md`.
"""

from __future__ import annotations

import json

from ..hub.cards import render_card, size_category

CARD_TOOLS = 40  # tools listed on the card


def _argument_summary(tool) -> str:
    from ..tools.checks import resolve_pointer

    parts = []
    required = set(tool.required)
    for key, prop in tool.properties.items():
        prop = prop if isinstance(prop, dict) else {}
        if isinstance(prop.get("$ref"), str):
            prop = resolve_pointer(tool.parameters, prop["$ref"]) or prop
        kind = prop.get("type", "any")
        kind = "/".join(kind) if isinstance(kind, list) else kind
        if prop.get("enum"):
            kind = " \\| ".join(json.dumps(v) for v in prop["enum"][:6]) + (" ..." if len(prop["enum"]) > 6 else "")
        parts.append(f"`{key}` ({kind}{', required' if key in required else ''})")
    return ", ".join(parts) or "none"


def render_dataset_card(taskset, *, license: str = "apache-2.0", pretty_name: str | None = None,
                        repo_id: str | None = None) -> str:
    """The README.md of a task dataset (see `toolbrain_hub.tasks.save_tasks`).

    Args:
        taskset: A `toolbrain_hub.tasks.TaskSet`.
        license: The dataset's license id.
        pretty_name: Card title (default: from the tool names).
        repo_id: Repo id shown in the usage snippet (default: a placeholder folder).
    """
    from huggingface_hub import DatasetCard

    report = taskset.report
    names = [t.name for t in taskset.tools]
    shown = taskset.tools[:CARD_TOOLS]  # an imported task set can hold thousands of tools: tools.json has them all
    pretty_name = pretty_name or ("Tool-use tasks: " + ", ".join(names[:4]) + (" ..." if len(names) > 4 else ""))
    splits = {name: len(split) for name, split in taskset.dataset.items()}
    total = sum(splits.values())
    metadata = {
        "license": license,
        "language": ["en"],
        "pretty_name": pretty_name,
        "task_categories": ["text-generation"],
        "tags": ["toolbrain", "toolbrain-hub", "tool-calling", "function-calling", "agents", "synthetic"],
        "size_categories": [size_category(total)],
        "configs": [{"config_name": "default",
                     "data_files": [{"split": s, "path": f"data/{s}-*.parquet"} for s in splits]}],
    }
    first = taskset.train[0] if len(taskset.train) else None
    example = None
    if first is not None:
        example = {"query": first["query"], "expected_calls": json.loads(first["expected_calls"]),
                   "gold_answer": first["gold_answer"], "kind": first["kind"], "difficulty": first["difficulty"]}
    cov = report.coverage
    text = render_card(
        "dataset_card",
        metadata=metadata,
        pretty_name=pretty_name,
        tools=[{"name": t.name, "description": t.description, "arguments": _argument_summary(t)} for t in shown],
        more_tools=len(names) - len(shown),
        imported=[g.split(":", 1)[1] for g in report.generator.split("+") if g.startswith("import:")],
        source=report.settings.get("source"),
        generator=report.generator,
        seed=report.seed,
        system_prompt=report.settings.get("system_prompt", ""),
        settings={k: v for k, v in report.settings.items() if k != "system_prompt"},
        requested=report.requested,
        kept=report.kept,
        attempts=report.attempts,
        retries=report.retries,
        acceptance_rate=report.acceptance_rate,
        elapsed_s=report.elapsed_s,
        rejected=report.rejected,
        dropped=report.dropped,
        paraphrase=report.paraphrase,
        splits=splits,
        total=total,
        coverage=cov,
        per_tool=[{"name": n, "tasks": cov.get("tools", {}).get(n, 0),
                   "used": len(cov.get("arguments", {}).get(n, {}).get("used", [])),
                   "total": cov.get("arguments", {}).get(n, {}).get("total", 0)} for n in names[:CARD_TOOLS]],
        columns=next(iter(taskset.dataset.values())).column_names,
        example=example,
        repo_id=repo_id or "path/to/this/folder",
    )
    DatasetCard(text)  # parses the front matter: a broken header fails here, not on the Hub
    return text

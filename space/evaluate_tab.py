"""Evaluate tab: run the base model and the trained agent on held-out tasks, as multi-turn episodes in the tool
environment, and compare them: a before/after metrics table and bars, saved into the run folder (publish reads
them from there)."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from . import runs, stops


def completed_runs(profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None,
                   prefer: tuple[str | None, ...] = ()):
    """The user's completed runs for a run picker, selecting the first of `prefer` that is one of them (else the
    newest)."""
    user = runs.current_user(profile, oauth_token)
    records = [r for r in runs.manager().list(owner=user.name, token=user.token) if r.status == "completed"] \
        if user.signed_in else []
    choices = [(r.name if r.name == r.id else f"{r.name} ({r.id})", r.id) for r in records]
    ids = [r.id for r in records]
    value = next((run_id for run_id in prefer if run_id in ids), ids[0] if ids else None)
    return gr.update(choices=choices, value=value)


def follow(train_run: str | None, current: str | None, profile: gr.OAuthProfile | None = None,
           oauth_token: gr.OAuthToken | None = None):
    """When the tab opens, refresh its run picker: the run picked in the Train tab if it has completed, else the
    picker's current run, else the newest completed one. (Only on opening: a picker that followed every change of
    the Train tab's run would re-render under the status timer.)"""
    return completed_runs(profile, oauth_token, prefer=(train_run, current))


def show_saved(run_id: str | None, profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None):
    """The evaluation saved in the run folder, if any: (markdown, figure, tasks default)."""
    from toolbrain_hub.evaluation import EvalError, load_comparison
    from toolbrain_hub.jobs.registry import RunNotFoundError

    if not run_id:
        return "Pick a completed run.", None, gr.update()
    user = runs.current_user(profile, oauth_token)
    try:
        record = runs.manager().registry.get(run_id, owner=user.name or "")
    except RunNotFoundError as err:
        return f"**{err}**", None, gr.update()
    tasks = record.config.get("tasks") or ""
    try:
        comparison = load_comparison(record.run_dir)
    except EvalError as err:
        return f"**Run `{record.id}` has an unreadable evaluation:** {err}", None, tasks
    if comparison is None:
        return f"Run `{record.id}` has not been evaluated yet.", None, tasks
    if not comparison.complete:
        return f"Run `{record.id}` has an evaluation without a before/after comparison.", None, tasks
    return _summary(record, comparison), comparison.figure(), tasks


def _summary(record, comparison) -> str:
    from toolbrain_hub.runs.folder import EVAL_FILE, EVAL_MARKDOWN, EVAL_PLOT

    before, after = comparison.labels
    return (f"**{record.name}**: {before} vs {after}, saved in `{Path(record.run_dir) / EVAL_FILE}` "
            f"(and `{EVAL_MARKDOWN}`, `{EVAL_PLOT}`).\n\n" + comparison.to_markdown())


def evaluate_run(run_id: str | None, tasks: str, split: str, limit: float, profile: gr.OAuthProfile | None = None,
                 oauth_token: gr.OAuthToken | None = None, request: gr.Request = None,
                 progress=gr.Progress(track_tqdm=True)):
    """Evaluate the base model and the run's agent on the same tasks (the Stop button ends it); returns (markdown,
    figure)."""
    from toolbrain_hub.evaluation import evaluate_before_after
    from toolbrain_hub.hub import download
    from toolbrain_hub.runs.folder import EVAL_MARKDOWN
    from toolbrain_hub.stopping import Stopped

    if not run_id:
        return "**Pick a completed run first** (train one in the Train tab).", None
    user = runs.current_user(profile, oauth_token)
    try:
        record = runs.manager().registry.get(run_id, owner=user.name or "")
        if record.status != "completed":
            return f"**Run `{run_id}` is {record.status}:** evaluate it once it has completed.", None
        tasks = (tasks or "").strip() or record.config.get("tasks", "")
        runs.check_readable(tasks, user)
        # With the user's own token: a private dataset or agent must not be read with the app's credentials.
        task_folder = str(download(tasks, repo_type="dataset", token=user.token))
        if limit and limit < 0:  # checked here: gradio's own range check leaves red badges on the outputs
            return f"**At most N tasks** must be 0 (all) or more, got {limit:g}.", None
        agent = str(download(record.agent_location(), token=user.token))  # an HF Jobs run's agent is on the Hub
        with stops.job(request, "evaluate") as stop:
            comparison = evaluate_before_after(
                agent, record.config["model"], task_folder, labels=("base model", "trained agent"),
                run_dir=record.run_dir, split=split, limit=int(limit) if limit else None, progress=True,
                should_stop=stop.is_set, on_start=lambda index, label: progress(index / 2, desc=label))
    except Stopped as e:
        return f"**Stopped:** {e}. Nothing was saved.", None
    except Exception as e:  # noqa: BLE001 - EvalError/TaskError/HubError say what is wrong
        return f"**Evaluation failed:** {type(e).__name__}: {e}", None
    runs.manager().registry.update(record.id, artifacts={**record.artifacts,
                                                         "evaluation": str(Path(record.run_dir) / EVAL_MARKDOWN)})
    return _summary(record, comparison), comparison.figure()


def build(run_selector: gr.Dropdown) -> None:
    """Add the Evaluate tab; it follows the run selected in the Train tab."""
    with gr.Tab("4. Evaluate", id="evaluate") as tab:
        gr.Markdown("Both the base model and the trained agent answer the same held-out tasks, prompted exactly as in "
                    "training; tools run schema-only (calls validated and answered from the task). Greedy decoding.")
        with gr.Row():
            run = gr.Dropdown([], value=None, label="Completed run", allow_custom_value=True, elem_id="eval-run",
                              scale=3)
            tasks = gr.Textbox("", label="Tasks (default: the run's dataset)", elem_id="eval-tasks", scale=3)
            split = gr.Radio(["test", "train"], value="test", label="Split", elem_id="eval-split", scale=1)
            limit = gr.Number(16, label="At most N tasks (0: all)", precision=0, elem_id="eval-limit",
                              scale=1)
        with gr.Row():
            go = gr.Button("Evaluate before / after", variant="primary", elem_id="eval-run-button", scale=4)
            stops.stop_button("evaluate", elem_id="eval-stop", scale=1)
        result = gr.Markdown(elem_id="eval-result")
        plot = gr.Plot(label="Before / after", elem_id="eval-plot")

        tab.select(follow, [run_selector, run], [run])
        run.change(show_saved, [run], [result, plot, tasks])
        go.click(evaluate_run, [run, tasks, split, limit], [result, plot], api_name="evaluate_run",
                 concurrency_limit=1, concurrency_id="model")

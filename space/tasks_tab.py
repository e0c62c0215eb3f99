"""Tasks tab: generate a validated task dataset from the tools (schema-driven, a local model, or an endpoint), look
at it, drop bad rows, save it to a folder or push it to the Hub with its dataset card."""

from __future__ import annotations

import json

import gradio as gr

from . import runs, state, stops

GENERATORS = {"Schema-driven (offline, fast)": "schema", "A local model": "model",
              "An OpenAI-compatible endpoint": "endpoint"}
PREVIEW_HEADERS = ["id", "split", "kind", "difficulty", "query", "expected calls", "gold answer"]
MAX_TASKS = 2000


def _preview(taskset) -> list[list]:
    from toolbrain_hub.traces import read_calls

    rows = []
    for split_name, split in taskset.dataset.items():
        for row in split:
            calls = read_calls(row["expected_calls"], where=f"task {row['id']} expected_calls")
            calls_text = "; ".join(f"{c.name}({json.dumps(c.arguments, ensure_ascii=False)})" for c in calls)
            rows.append([row["id"], split_name, row["kind"], row["difficulty"], row["query"], calls_text or "(none)",
                         row["gold_answer"]])
    return rows


def _report(taskset) -> str:
    report, cov = taskset.report, taskset.report.coverage
    splits = ", ".join(f"{name} {size}" for name, size in cov.get("splits", {}).items())
    lines = [f"**{report.kept} tasks** kept of {report.requested} requested ({splits}); generator "
             f"`{report.generator}`, seed {report.seed}, {report.attempts} proposals, acceptance "
             f"{report.acceptance_rate:.0%}, {report.elapsed_s:.1f} s."]
    if report.rejected:
        lines.append("Rejected proposals: " + ", ".join(f"{k} {v}" for k, v in sorted(report.rejected.items())) + ".")
    if report.dropped:
        lines.append("Dropped after retries: " + ", ".join(f"{k} {v}" for k, v in sorted(report.dropped.items())))
    per_tool = ", ".join(f"`{name}` {n}" for name, n in cov.get("tools", {}).items())
    lines.append(f"Per tool: {per_tool}; no-tool tasks: {cov.get('negatives', 0)}; difficulty: "
                 + ", ".join(f"{k} {v}" for k, v in cov.get("difficulty", {}).items()) + ".")
    if cov.get("tools_uncovered"):
        lines.append(f"**No task uses:** {', '.join(cov['tools_uncovered'])}.")
    return "\n\n".join(lines)


def generate(tools, generator: str, model: str, endpoint: str, num: float | None, seed: float | None,
             test_size: float, profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None,
             request: gr.Request = None, progress=gr.Progress(track_tqdm=True)):
    """Generate tasks; returns (status, preview rows, task set state, removal choices, save message)."""
    from toolbrain_hub.stopping import Stopped
    from toolbrain_hub.tasks import generate_tasks

    # On a problem the tasks generated before (if any) stay, in the table and for saving alike.
    nothing = (gr.update(), gr.update(), gr.update(), gr.update())
    if not tools:
        return ("**No tools yet:** validate tool schemas in the **Tools** tab first.",) + nothing
    kind = GENERATORS.get(generator, generator)
    # The ranges are checked here, not by the fields: gradio would mark every output with a bare "Error" badge.
    if num is None or num != int(num) or not 1 <= num <= MAX_TASKS:
        return (f"**Number of tasks:** give a whole number from 1 to {MAX_TASKS} (got {_shown(num)}).",) + nothing
    if seed is not None and seed != int(seed):
        return (f"**Seed:** give a whole number (got {_shown(seed)}).",) + nothing
    num = int(num)
    if kind == "schema":
        source = "schema"
    elif kind == "model":
        source = (model or "").strip() or state.default_model()
    else:
        source = (endpoint or "").strip()
        if not source.startswith(("http://", "https://")):
            return ("**Error:** give the endpoint's base URL (http(s)://…, `URL#model` to name a model).",) + nothing
    user = runs.current_user(profile, oauth_token)
    try:
        if kind != "schema":
            runs.check_model("generator", source, user)
        with stops.job(request, "tasks") as stop:
            taskset = generate_tasks(tools, num=num, generator=source, seed=int(seed or 0),
                                     test_size=float(test_size), token=user.token if kind == "endpoint" else None,
                                     progress=True, should_stop=stop.is_set)
    except Stopped as e:
        return (f"**Stopped:** {e}; nothing new was kept.",) + nothing
    except Exception as e:  # noqa: BLE001 - shown in the page instead of a traceback
        return (f"**Task generation failed:** {type(e).__name__}: {e}",) + nothing
    # A save message about the tasks shown before ("No tasks yet", "Saved 24 tasks") no longer applies.
    return _report(taskset), _preview(taskset), taskset, gr.update(choices=taskset.ids, value=[]), ""


def _shown(value) -> str:
    return "nothing" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def pick_row(taskset, chosen: list[str], evt: gr.SelectData):
    """Clicking a preview row toggles its task in the removal list."""
    if taskset is None or evt.index is None:
        return gr.update()
    row = evt.row_value if getattr(evt, "row_value", None) else None
    task_id = row[0] if row else None
    chosen = list(chosen or [])
    if task_id:
        chosen.remove(task_id) if task_id in chosen else chosen.append(task_id)
    return gr.update(value=chosen)


def remove_rows(taskset, chosen: list[str]):
    """Drop the chosen tasks (`TaskSet.without`: the library recomputes the report's count and coverage)."""
    if taskset is None:
        return "**No tasks yet:** generate some first.", gr.update(), None, gr.update()
    if not chosen:
        return "Pick rows to remove (click them in the table, or choose their ids).", gr.update(), taskset, \
            gr.update()
    kept = taskset.without(chosen)
    status = f"Removed {len(taskset) - len(kept)} task(s).\n\n" + _report(kept)
    return status, _preview(kept), kept, gr.update(choices=kept.ids, value=[])


def _runs_using(folder, user) -> str:
    """The user's runs trained on the dataset in `folder`, for a message ("" when none)."""
    records = runs.manager().registry.using_tasks(folder, owner=user.name)
    if not records:
        return ""
    names = ", ".join(f"`{r.name}`" for r in records[:5])
    names += f" and {len(records) - 5} more" if len(records) > 5 else ""
    return f"{len(records)} run{'s' if len(records) != 1 else ''} ({names})"


def save(taskset, name: str, replace: bool = False, profile: gr.OAuthProfile | None = None,
         oauth_token: gr.OAuthToken | None = None):
    """Write the tasks to a local dataset folder, never over an existing one unless `replace` is ticked; returns
    (status, dataset location for training)."""
    from toolbrain_hub.tasks import DatasetExistsError, describe_task_folder, save_tasks

    if taskset is None:
        return "**No tasks yet:** generate some first.", gr.update()
    user = runs.current_user(profile, oauth_token)
    if not user.signed_in:
        return f"**Not signed in:** {user.problem}", gr.update()
    try:
        folder = runs.user_folder("datasets", user) / state.check_name(name)
        existed = describe_task_folder(folder) if folder.is_dir() and any(folder.iterdir()) else None
        used_by = _runs_using(folder, user)
        save_tasks(taskset, folder, replace=bool(replace))
    except DatasetExistsError as e:
        users = f" {used_by} trained on it and point at this folder." if used_by else ""
        return (f"**Not saved: a dataset named `{name.strip()}` already exists** (`{e.folder}`: {e.holds}).{users} "
                "Choose another name, or tick **Replace it** to write over it.", gr.update())
    except Exception as e:  # noqa: BLE001
        return f"**Saving failed:** {e}", gr.update()
    status = f"Saved {len(taskset)} tasks with their card to the folder `{folder}`."
    if existed:
        status += f" It replaced the dataset that was there ({existed})."
        if used_by:
            status += f" **{used_by} trained on the old dataset**: their records still point at this folder."
    return status, str(folder)


def push(taskset, name: str, private: bool, profile: gr.OAuthProfile | None = None,
         oauth_token: gr.OAuthToken | None = None):
    """Push the tasks with their card to the user's namespace; returns (status, dataset repo id for training)."""
    from toolbrain_hub.hub import full_repo_id, repo_exists
    from toolbrain_hub.tasks import push_tasks

    if taskset is None:
        return "**No tasks yet:** generate some first.", gr.update()
    user = runs.current_user(profile, oauth_token)
    if not user.token:
        return f"**Cannot push:** {user.problem}", gr.update()
    try:
        repo_id = full_repo_id(state.check_name(name), user.token) if "/" not in name else name.strip()
        if repo_id.split("/")[0] != user.name:
            return f"**Cannot push:** datasets go to your own namespace ({user.name}/…).", gr.update()
        existed = repo_exists(repo_id, repo_type="dataset", token=user.token)
        url = push_tasks(taskset, repo_id, token=user.token, private=bool(private))
    except Exception as e:  # noqa: BLE001 - HubError messages say what to do, never the token
        return f"**Push failed:** {e}", gr.update()
    if existed:  # a Hub repo keeps its history: the old tasks stay reachable
        used_by = _runs_using(repo_id, user)
        return (f"Pushed {len(taskset)} tasks with their dataset card to [{repo_id}]({url}): **the repo already "
                "existed**, so this updated it (its commit history keeps the earlier versions)."
                + (f" {used_by} trained on an earlier version." if used_by else "")), repo_id
    return f"Pushed {len(taskset)} tasks with their dataset card to [{repo_id}]({url}).", repo_id


def build(tools_state: gr.State) -> gr.Textbox:
    """Add the Tasks tab; returns the textbox holding where the task dataset is (a folder or a repo id)."""
    with gr.Tab("2. Tasks", id="tasks"):
        taskset_state = gr.State(None)
        gr.Markdown("Generate tool-use tasks from the tool descriptions: each one has a request, the expected tool "
                    "calls (validated against the schemas) and, when it is determined, the answer.")
        with gr.Row():
            generator = gr.Radio(list(GENERATORS), value=next(iter(GENERATORS)), label="Generator",
                                 elem_id="tasks-generator")
            num = gr.Number(40, label=f"Number of tasks (1 to {MAX_TASKS})", precision=0, elem_id="tasks-num")
            seed = gr.Number(0, label="Seed", precision=0, elem_id="tasks-seed")
            test_size = gr.Slider(0, 0.5, value=0.2, step=0.05, label="Test fraction", elem_id="tasks-test-size")
        with gr.Row():
            model = gr.Textbox(state.default_model(), label="Local model (built-in name, folder or Hub id)",
                               elem_id="tasks-model")
            endpoint = gr.Textbox("", label="Endpoint URL (OpenAI-compatible; URL#model to name the model)",
                                  placeholder="https://router.huggingface.co/v1#Qwen/Qwen2.5-7B-Instruct",
                                  elem_id="tasks-endpoint")
        with gr.Row():
            run = gr.Button("Generate tasks", variant="primary", elem_id="tasks-generate", scale=4)
            stops.stop_button("tasks", elem_id="tasks-stop", scale=1)
        status = gr.Markdown(elem_id="tasks-status")
        preview = gr.Dataframe(headers=PREVIEW_HEADERS, value=[], label="Tasks (click a row to mark it for removal)",
                               interactive=False, wrap=True, max_height=420, elem_id="tasks-preview")
        with gr.Row():
            chosen = gr.Dropdown([], value=[], multiselect=True, label="Tasks to remove", elem_id="tasks-remove-ids")
            remove = gr.Button("Remove them", elem_id="tasks-remove")
        with gr.Row():
            name = gr.Textbox("my-tool-tasks", label="Dataset name", elem_id="tasks-name")
            replace = gr.Checkbox(False, label="Replace it (if a dataset of that name exists)",
                                  elem_id="tasks-replace")
            private = gr.Checkbox(True, label="Private on the Hub", elem_id="tasks-private")
            save_btn = gr.Button("Save to a local folder", elem_id="tasks-save")
            push_btn = gr.Button("Push to the Hub", elem_id="tasks-push")
        saved = gr.Markdown(elem_id="tasks-saved")
        location = gr.Textbox(label="Task dataset for training (folder or Hub repo id)", interactive=False,
                              elem_id="tasks-location")

        run.click(generate, [tools_state, generator, model, endpoint, num, seed, test_size],
                  [status, preview, taskset_state, chosen, saved], api_name="tasks_generate",
                  concurrency_limit=1, concurrency_id="model")
        preview.select(pick_row, [taskset_state, chosen], [chosen])
        remove.click(remove_rows, [taskset_state, chosen], [status, preview, taskset_state, chosen],
                     api_name="tasks_remove")
        # One replace per tick: the box is cleared after every save.
        save_btn.click(save, [taskset_state, name, replace], [saved, location], api_name="tasks_save").then(
            lambda: False, None, replace)
        push_btn.click(push, [taskset_state, name, private], [saved, location], api_name="tasks_push")
    return location

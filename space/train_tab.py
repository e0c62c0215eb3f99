"""Train tab: choose data, model, algorithm, rewards, LoRA/QLoRA and hardware; launch on this machine or on HF Jobs;
follow status, logs and reward curves live; cancel. Runs live in the on-disk registry, so a page refresh or an app
restart loses nothing."""

from __future__ import annotations

import os
import shlex
import warnings

import gradio as gr

from . import runs, state

LOCAL = "This machine"
JOB_PREFIX = "HF Jobs: "
RUN_HEADERS = ["run", "status", "where", "created", "message"]


def hardware_choices() -> list[str]:
    from huggingface_hub import JobHardware

    return [LOCAL] + [JOB_PREFIX + h.value for h in JobHardware]


def _rewards_text(rewards: dict[str, float]) -> str:
    return ", ".join(f"{name}={weight:g}" for name, weight in rewards.items())


def saved_datasets(profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None) -> list[str]:
    """The user's local task dataset folders."""
    user = runs.current_user(profile, oauth_token)
    if not user.signed_in:
        return []
    from toolbrain_hub.tasks import task_folders

    return [str(p) for p in task_folders(runs.user_folder("datasets", user))]


def dataset_choices(profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None):
    """Refresh the dataset picker's choices with the user's saved folders. Its value is not sent back: the user may
    have typed into it since the refresh started, and an answer carrying the old value would undo that."""
    return gr.update(choices=saved_datasets(profile, oauth_token))


def build_config(dataset, model, algorithm, rewards, judge_model, judge_weight, teacher, lora_r, lora_alpha,
                 quantization, max_steps, num_generations, learning_rate, max_completion_length, max_turns, push_to,
                 extra, rules=None):
    """A validated `TrainConfig` from the form (the library parses rewards and `--key value` overrides).

    Args:
        rules: On a Space, the visitor's `VisitorPolicy`: checked on the whole config (form, extra options and API
            calls alike) before anything else looks at its paths.
    """
    from toolbrain_hub.config import JudgeSettings, LoraSettings, TrainConfig
    from toolbrain_hub.errors import ConfigError

    config = TrainConfig(
        algorithm=algorithm, model=(model or "").strip(), tasks=(dataset or "").strip(),
        lora=LoraSettings(r=int(lora_r), alpha=int(lora_alpha)), quantization=quantization,
        max_steps=int(max_steps), num_generations=int(num_generations), learning_rate=float(learning_rate),
        max_completion_length=int(max_completion_length), max_turns=int(max_turns),
        push_to=(push_to or "").strip() or None, teacher=(teacher or "").strip() or None,
        judge=JudgeSettings(model=judge_model.strip(), weight=float(judge_weight)) if (judge_model or "").strip()
        else None)
    # GRPO steps must hold whole groups: one group per step unless the extra options say otherwise.
    config.per_device_train_batch_size = int(num_generations)
    overrides = ["--rewards", rewards.strip()] if (rewards or "").strip() else ["--rewards", "{}"]
    try:
        overrides += shlex.split(extra or "")
    except ValueError as err:
        raise ConfigError(f"extra options: {err}") from None
    config = config.apply_overrides(overrides)
    if rules is not None:
        rules.check_config(config)
    return config.validate()


def launch(dataset, model, algorithm, rewards, judge_model, judge_weight, teacher, lora_r, lora_alpha, quantization,
           max_steps, num_generations, learning_rate, max_completion_length, max_turns, hardware, push_to, extra,
           profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None):
    """Validate the form and submit the run; returns (message, runs table, run selector)."""
    user = runs.current_user(profile, oauth_token)
    if not user.signed_in:
        return f"**Not signed in:** {user.problem}", gr.update(), gr.update()
    on_jobs = hardware.startswith(JOB_PREFIX)
    push_to = (push_to or "").strip()
    if push_to and "/" not in push_to and user.name and user.token:
        push_to = f"{user.name}/{push_to}"  # a bare name goes to the user's namespace
    if push_to and user.name and push_to.split("/")[0] != user.name:
        return f"**Cannot launch:** push_to must be in your namespace ({user.name}/…).", gr.update(), gr.update()
    if push_to and not user.token:
        return f"**Cannot push:** {user.problem}", gr.update(), gr.update()
    try:
        with warnings.catch_warnings(record=True) as caught:  # config advice is shown, not lost in a server log
            warnings.simplefilter("always")
            config = build_config(dataset, model, algorithm, rewards, judge_model, judge_weight, teacher, lora_r,
                                  lora_alpha, quantization, max_steps, num_generations, learning_rate,
                                  max_completion_length, max_turns, push_to, extra, rules=runs.policy(user))
        notes = "".join(f"\n\n**Note:** {w.message}" for w in caught if issubclass(w.category, UserWarning))
        record = runs.manager().submit(config, owner=user.name, launcher="hf-jobs" if on_jobs else "local",
                                       token=user.token, flavor=hardware[len(JOB_PREFIX):] if on_jobs else None)
    except Exception as e:  # noqa: BLE001 - ConfigError/LauncherError/HubError say what to fix
        return f"**Cannot launch:** {e}", gr.update(), gr.update()
    table, choices = _runs(user)
    where = f"HF Jobs ({record.flavor})" if on_jobs else "this machine"
    # No status in this message: it would go stale; the status panel beside it follows the run.
    return (f"Run `{record.id}` launched on {where}. Its status, logs and reward curves follow on the right.{notes}",
            table, gr.update(choices=choices, value=record.id))


def _runs(user) -> tuple[list[list[str]], list[tuple[str, str]]]:
    records = runs.manager().list(owner=user.name, token=user.token) if user.signed_in else []
    table = [[_label(r), r.status, f"HF Jobs {r.flavor}" if r.launcher == "hf-jobs" else "this machine",
              r.created_at.replace("T", " ").rstrip("Z"), r.message] for r in records]
    return table, [(_label(r), r.id) for r in records]


def _label(record) -> str:
    """A run as the table and the picker show it: its id, then its name when it has one of its own."""
    return record.id if record.name in ("", record.id) else f"{record.id} ({record.name})"


def list_runs(current: str | None = None, profile: gr.OAuthProfile | None = None,
              oauth_token: gr.OAuthToken | None = None):
    """The user's runs (table and selector); the selector keeps its run, or picks the newest one (after a reload the
    page shows where the user left off)."""
    user = runs.current_user(profile, oauth_token)
    table, choices = _runs(user)
    ids = [run_id for _, run_id in choices]
    return table, gr.update(choices=choices, value=current if current in ids else (ids[0] if ids else None))


def pick_run(evt: gr.SelectData):
    """Clicking a row of the runs table selects that run."""
    row = getattr(evt, "row_value", None) or []
    return gr.update(value=str(row[0]).split(" (", 1)[0]) if row else gr.update()


def restore_form(run_id: str | None, dataset: str | None, profile: gr.OAuthProfile | None = None,
                 oauth_token: gr.OAuthToken | None = None):
    """A fresh form (empty dataset, e.g. after a reload) takes the settings of the selected run, so launching again
    starts from where the user left off; a form the user already filled is left alone."""
    from toolbrain_hub.jobs.registry import RunNotFoundError

    keep = [gr.update()] * len(FORM_FIELDS)
    if not run_id or (dataset or "").strip():
        return keep
    user = runs.current_user(profile, oauth_token)
    try:
        config = runs.manager().registry.get(run_id, owner=user.name or "").config
    except RunNotFoundError:
        return keep
    values = {**config, "lora_r": config.get("lora", {}).get("r"), "lora_alpha": config.get("lora", {}).get("alpha"),
              "rewards": _rewards_text(config["rewards"]) if isinstance(config.get("rewards"), dict) else None}
    return [gr.update(value=values[name]) if values.get(name) is not None else gr.update() for name in FORM_FIELDS]


# The form fields `restore_form` fills from a run's config, in its output order.
FORM_FIELDS = ("tasks", "model", "algorithm", "rewards", "lora_r", "lora_alpha", "quantization", "max_steps",
               "num_generations", "learning_rate", "max_completion_length", "max_turns")


def _clean_log(text: str) -> str:
    # Progress bars rewrite their line with \r: keep each line's last state.
    return "\n".join(line.rsplit("\r", 1)[-1] for line in text.split("\n"))


def _describe(record) -> str:
    title = f"**{record.name}** (`{record.id}`)" if record.name != record.id else f"`{record.id}`"
    lines = [f"{title}: **{record.status}**" + (f": {record.message}" if record.message else "")]
    config = record.config
    lines.append(f"{config.get('algorithm', '?')} on `{config.get('model', '?')}` with `{config.get('tasks', '?')}`, "
                 f"{config.get('max_steps', '?')} steps; " + (f"HF Jobs `{record.flavor}`" if record.launcher ==
                                                               "hf-jobs" else "on this machine") + ".")
    where = [f"- {label}: `{value}`" if not value.startswith("http") else f"- {label}: [{value}]({value})"
             for label, value in record.artifacts.items()]
    return "\n\n".join(lines) + "\n\nWhere things are:\n" + "\n".join(where)


def show_run(run_id: str | None, seen: dict | None, profile: gr.OAuthProfile | None = None,
             oauth_token: gr.OAuthToken | None = None):
    """Status, logs, curves of the selected run, and the runs table when the run's state changed; the plot is
    redrawn only when its metrics changed."""
    from toolbrain_hub.jobs.registry import RunNotFoundError
    from toolbrain_hub.runs import run_metrics

    seen = dict(seen or {})
    if not run_id:
        return "No run selected.", "", gr.update(), gr.update(), seen
    user = runs.current_user(profile, oauth_token)
    try:
        record = runs.manager().get(run_id, owner=user.name or "", token=user.token)
    except RunNotFoundError as err:
        return f"**{err}**", "", None, gr.update(), {}
    import time

    # HF Jobs logs come over the network: fetch them every few seconds, not on every tick.
    logs = gr.update()
    if record.launcher == "local" or seen.get("run") != run_id or time.time() - seen.get("logs_at", 0) > 10 \
            or not record.active:
        try:
            logs = _clean_log(runs.manager().logs(run_id, owner=user.name, token=user.token))
        except Exception as e:  # noqa: BLE001
            logs = f"(could not read the logs: {e})"
        seen["logs_at"] = time.time()
    if isinstance(logs, str):
        # An HF Jobs run keeps its metrics file in its container until it publishes: its log lines carry each step's
        # metrics, so the curves are drawn from them.
        rows = run_metrics(record.run_dir, log_text=logs if record.launcher != "local" else None)
        # The plot is redrawn only when the rows changed; compared as text, since a NaN never equals itself.
        stamp = f"{len(rows)}:{rows[-1] if rows else ''}"
    else:  # the job's logs were not fetched on this tick: keep the plot
        rows, stamp = None, seen.get("stamp")
    plot = gr.update()
    if seen.get("run") != run_id or seen.get("stamp") != stamp:
        plot = _figure(record, rows)
    table = gr.update()
    if (seen.get("run"), seen.get("status")) != (run_id, record.status):
        table = _runs(user)[0]
    seen.update(run=run_id, stamp=stamp, status=record.status)
    return _describe(record), logs, plot, table, seen


def _figure(record, rows):
    """The reward curves of a run from its metric rows (None: nothing to draw yet)."""
    from toolbrain_hub.runs.plots import reward_curve_figure

    if not rows:
        return None
    try:
        return reward_curve_figure(rows, title=f"{record.config.get('algorithm', '')} run {record.name}")
    except ValueError:  # no reward, loss or KL values yet
        return None


def cancel(run_id: str | None, profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None):
    """Cancel the selected run (only its owner can)."""
    if not run_id:
        return "No run selected.", gr.update(), gr.update()
    user = runs.current_user(profile, oauth_token)
    try:
        record = runs.manager().cancel(run_id, owner=user.name or "", token=user.token)
    except Exception as e:  # noqa: BLE001 - RunNotFoundError for others' runs, LauncherError for ended ones
        return f"**Cannot cancel:** {e}", gr.update(), gr.update()
    table, choices = _runs(user)
    said = "canceled." if record.status == "canceled" else f"had already ended: {record.status}."
    return f"Run `{record.id}` {said}", table, gr.update(choices=choices, value=record.id)


def build(dataset_location: gr.Textbox) -> gr.Dropdown:
    """Add the Train tab; returns the run selector (the Evaluate and Publish tabs follow it)."""
    from toolbrain_hub.config import ALGORITHMS, TrainConfig
    from toolbrain_hub.config.base import QUANTIZATIONS
    from toolbrain_hub.models.builtin import BUILTIN_MODELS

    defaults = TrainConfig()
    with gr.Tab("3. Train", id="train") as tab:
        with gr.Row():
            with gr.Column(scale=2):
                dataset = gr.Dropdown([], value=None, allow_custom_value=True, label="Task dataset (folder or Hub "
                                      "dataset repo id)", elem_id="train-dataset")
                with gr.Row():
                    model = gr.Dropdown(list(BUILTIN_MODELS), value=state.default_model(), allow_custom_value=True,
                                        label="Base model (built-in, folder or Hub id)", elem_id="train-model")
                    algorithm = gr.Radio(list(ALGORITHMS), value=defaults.algorithm, label="Algorithm",
                                         elem_id="train-algorithm")
                rewards = gr.Textbox(_rewards_text(defaults.rewards), label="Rewards (name=weight, …)",
                                     info="Built-in: " + ", ".join(_reward_names()), elem_id="train-rewards")
                with gr.Row():
                    judge_model = gr.Textbox("", label="LLM judge (optional: model or endpoint URL)",
                                             elem_id="train-judge")
                    judge_weight = gr.Number(1.0, label="Judge weight")
                    teacher = gr.Textbox("", label="Teacher (distill only)", elem_id="train-teacher")
                with gr.Row():
                    lora_r = gr.Number(defaults.lora.r, label="LoRA r", precision=0, elem_id="train-lora-r")
                    lora_alpha = gr.Number(defaults.lora.alpha, label="LoRA alpha", precision=0,
                                           elem_id="train-lora-alpha")
                    quantization = gr.Radio(list(QUANTIZATIONS), value=defaults.quantization,
                                            label="Quantization (4bit = QLoRA)")
                with gr.Row():
                    max_steps = gr.Number(defaults.max_steps, label="Steps", precision=0, minimum=1,
                                          elem_id="train-steps")
                    num_generations = gr.Number(defaults.num_generations, label="Group size", precision=0,
                                                minimum=2, elem_id="train-generations")
                    learning_rate = gr.Number(defaults.learning_rate, label="Learning rate", elem_id="train-lr")
                    max_completion_length = gr.Number(defaults.max_completion_length, label="Max completion tokens",
                                                      precision=0, elem_id="train-max-completion")
                    max_turns = gr.Number(defaults.max_turns, label="Max tool turns", precision=0)
                with gr.Row():
                    hardware = gr.Dropdown(hardware_choices(), value=LOCAL, label="Hardware", elem_id="train-hardware")
                    push_to = gr.Textbox("", label="Push the adapter to (model repo; required on HF Jobs)",
                                         placeholder="my-agent", elem_id="train-push-to")
                extra = gr.Textbox("", label="Extra options (--key value, as on the command line)",
                                   placeholder="--beta 0.04 --save_steps 5", elem_id="train-extra")
                go = gr.Button("Launch training", variant="primary", elem_id="train-launch")
                launched = gr.Markdown(elem_id="train-launched")
            with gr.Column(scale=3):
                with gr.Row():
                    run = gr.Dropdown([], value=None, label="Run", allow_custom_value=True, elem_id="train-run",
                                      scale=4)
                    refresh = gr.Button("↻", scale=0, min_width=60, elem_id="train-refresh")
                    stop = gr.Button("Cancel run", variant="stop", scale=1, elem_id="train-cancel")
                status = gr.Markdown("No run selected.", elem_id="train-status")
                plot = gr.Plot(label="Reward curves", elem_id="train-plot")
                logs = gr.Textbox(label="Logs", lines=12, max_lines=12, autoscroll=True, elem_id="train-logs")
        table = gr.Dataframe(headers=RUN_HEADERS, value=[], label="Your runs", interactive=False, wrap=True,
                             elem_id="train-runs")
        seen = gr.State({})
        timer = gr.Timer(float(os.environ.get("TOOLBRAIN_HUB_POLL_S", "2")))

        inputs = [dataset, model, algorithm, rewards, judge_model, judge_weight, teacher, lora_r, lora_alpha,
                  quantization, max_steps, num_generations, learning_rate, max_completion_length, max_turns,
                  hardware, push_to, extra]
        go.click(launch, inputs, [launched, table, run], api_name="train_launch")
        stop.click(cancel, [run], [launched, table, run], api_name="train_cancel")
        gr.on([tab.select, refresh.click], list_runs, [run], [table, run], api_name="train_runs").then(
            restore_form, [run, dataset], [dataset, model, algorithm, rewards, lora_r, lora_alpha, quantization,
                                           max_steps, num_generations, learning_rate, max_completion_length,
                                           max_turns]).then(dataset_choices, None, [dataset])
        table.select(pick_run, None, [run])
        dataset_location.change(lambda value: gr.update(value=value), [dataset_location], [dataset])
        gr.on([run.change, timer.tick], show_run, [run, seen], [status, logs, plot, table, seen],
              api_name="train_status", show_progress="hidden").then(None, js=_FOLLOW_LOGS)
    return run


# Runs in the page after each status update (no server call): new log lines scroll the Logs box to its end, as a
# terminal does; a box whose text did not change keeps where the user scrolled to.
_FOLLOW_LOGS = """() => {
  const box = document.querySelector('#train-logs textarea');
  if (box && box.dataset.seen !== String(box.value.length)) {
    box.dataset.seen = String(box.value.length);
    box.scrollTop = box.scrollHeight;
  }
}"""


def _reward_names() -> list[str]:
    from toolbrain_hub.rewards import REWARDS

    return sorted(REWARDS)

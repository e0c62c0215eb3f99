"""Publish tab: preview the model card of a finished run, then publish the agent (adapter, agent spec, card,
curves, evaluation) to a Hub model repo in the user's namespace, or into a local folder."""

from __future__ import annotations

import gradio as gr

from . import runs, state
from .evaluate_tab import follow


def _record(run_id: str | None, user):
    if not run_id:
        raise ValueError("pick a completed run first (train one in the Train tab)")
    record = runs.manager().registry.get(run_id, owner=user.name or "")
    if record.status != "completed":
        raise ValueError(f"run {run_id} is {record.status}: publish it once it has completed")
    return record


def preview(run_id: str | None, name: str, profile: gr.OAuthProfile | None = None,
            oauth_token: gr.OAuthToken | None = None):
    """The model card and file list the run would publish; returns (card markdown, file list or problem)."""
    from toolbrain_hub.hub.cards import card_for_display
    from toolbrain_hub.publishing import preview_card

    user = runs.current_user(profile, oauth_token)
    try:
        record = _record(run_id, user)
        if record.launcher == "hf-jobs":
            repo = record.config.get("push_to")
            return "", f"This run was published by its HF Job to [{repo}]({record.artifacts.get('model repo')})."
        ref = f"{user.name}/{name.strip()}" if user.token and name.strip() else "path/to/this/folder"
        card, files = preview_card(record.run_dir, repo_ref=ref)
    except Exception as e:  # noqa: BLE001 - PublishError names what is missing
        return "", f"**Cannot preview:** {e}"
    return card_for_display(card), "Files: " + ", ".join(f"`{f}`" for f in files)


def publish_run(run_id: str | None, name: str, private: bool, where: str, replace: bool = False,
                profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None):
    """Publish to the Hub (the user's namespace) or to a local folder, never over an existing local agent unless
    `replace` is ticked; returns (status, agent location)."""
    from toolbrain_hub.publishing import publish
    from toolbrain_hub.publishing.publisher import AgentExistsError

    user = runs.current_user(profile, oauth_token)
    try:
        name = state.check_name(name)
    except ValueError as e:
        return f"**Invalid {str(e).removeprefix('invalid ')}**", gr.update()
    try:
        record = _record(run_id, user)
        if where == "Hub":
            if not user.token:
                return f"**Cannot push:** {user.problem}", gr.update()
            result = publish(record.run_dir, f"{user.name}/{name}", private=bool(private), token=user.token)
            location, shown = result.repo_id, f"[{result.repo_id}]({result.url_or_path})"
        else:
            out = runs.user_folder("agents", user) / name
            result = publish(record.run_dir, out_dir=out, replace=bool(replace))
            location = shown = result.url_or_path
    except AgentExistsError as e:
        return (f"**Not published: the folder `{e.folder}` already holds a published agent.** Choose another name, "
                "or tick **Replace it** to write over it.", gr.update())
    except Exception as e:  # noqa: BLE001 - PublishError / HubError messages say what to do
        return f"**Publish failed:** {e}", gr.update()
    runs.manager().registry.update(record.id, artifacts={**record.artifacts, "published agent": location if
                                                         where != "Hub" else result.url_or_path})
    status = f"Published {len(result.files)} files to {shown}."
    if result.replaced and where == "Hub":  # the repo's history keeps the earlier agent
        status += " **The repo already existed:** this updated it (its commit history keeps the earlier versions)."
    elif result.replaced:
        status += " **It replaced the agent that was in that folder.**"
    return f"{status} Next: chat with it in the **Try it** tab.", location


def _default_destination() -> str:
    """Where publishing goes by default, decided at each page load: the Hub when there is a token to push with (a
    Space's signed-in visitors have one), else a local folder."""
    return "Hub" if runs.on_space() or runs.current_user().token else "Local folder"


def build(run_selector: gr.Dropdown) -> gr.Textbox:
    """Add the Publish tab; returns the textbox holding where the published agent is (repo id or folder)."""
    with gr.Tab("5. Publish", id="publish") as tab:
        gr.Markdown("Publish the trained agent: the LoRA adapter, the agent spec it was trained with (prompt, chat "
                    "template, tools, parser), the config, curves, evaluation and a model card. Hub pushes go to "
                    "your namespace with your token; nothing with a token or a local path is uploaded.")
        with gr.Row():
            run = gr.Dropdown([], value=None, label="Completed run", allow_custom_value=True, elem_id="publish-run",
                              scale=3)
            name = gr.Textbox("my-tool-agent", label="Repo / folder name", elem_id="publish-name", scale=2)
            private = gr.Checkbox(True, label="Private repo", elem_id="publish-private", scale=1)
            where = gr.Radio(["Hub", "Local folder"], value=_default_destination, label="Publish to",
                             elem_id="publish-where", scale=1)
            replace = gr.Checkbox(False, label="Replace it (if a local folder of that name holds an agent)",
                                  elem_id="publish-replace", scale=1)
        with gr.Row():
            show = gr.Button("Preview the card", elem_id="publish-preview")
            go = gr.Button("Publish", variant="primary", elem_id="publish-go")
        status = gr.Markdown(elem_id="publish-status")
        location = gr.Textbox(label="Published agent (repo id or folder)", interactive=False,
                              elem_id="publish-location")
        with gr.Accordion("Model card preview", open=True):
            # The preview's own line (its file list, or why there is none): the publish status stays as it was.
            files = gr.Markdown(elem_id="publish-files")
            card = gr.Markdown(elem_id="publish-card")

        tab.select(follow, [run_selector, run], [run])
        show.click(preview, [run, name], [card, files], api_name="publish_preview")
        run.change(preview, [run, name], [card, files])
        # One replace per tick: the box is cleared after every publish.
        go.click(publish_run, [run, name, private, where, replace], [status, location], api_name="publish_run").then(
            lambda: False, None, replace)
    return location

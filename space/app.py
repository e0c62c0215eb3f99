"""Builds the ToolBrain Hub Gradio app from the tab modules."""

from __future__ import annotations

import gradio as gr

from . import evaluate_tab, playground, publish_tab, runs, tasks_tab, tools_tab, train_tab, try_tab

TITLE = "ToolBrain Hub"


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nTeach an LLM agent to use your tools: schemas → tasks → training → published agent.")
        runs.account_bar()
        with gr.Tabs():
            # Each tab hands what it made (tools, a task dataset, a run, an agent) to the next one.
            tools = tools_tab.build()
            dataset = tasks_tab.build(tools)
            run = train_tab.build(dataset)
            evaluate_tab.build(run)
            agent = publish_tab.build(run)
            try_tab.build(agent)
            playground.build()
    return demo


def launch(demo: gr.Blocks, **kwargs):
    """Serve `demo` the way the Space does: uploads limited to JSON files (at the route, see `space.uploads`) of
    at most 2 MB. `kwargs` go to `Blocks.launch` (server name and port, `prevent_thread_lock`...)."""
    from starlette.middleware import Middleware

    from .state import MAX_UPLOAD_BYTES
    from .uploads import UploadFilter

    return demo.launch(max_file_size=MAX_UPLOAD_BYTES, app_kwargs={"middleware": [Middleware(UploadFilter)]},
                       **kwargs)

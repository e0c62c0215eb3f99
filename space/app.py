"""Builds the ToolBrain Hub Gradio app from the tab modules."""

from __future__ import annotations

import gradio as gr

from . import playground

TITLE = "ToolBrain Hub"


def build_app() -> gr.Blocks:
    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nTeach an LLM agent to use your tools: schemas → tasks → training → published agent.")
        with gr.Tabs():
            playground.build()
    return demo

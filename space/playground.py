"""Playground tab: paste tool schemas and a question, see the model's raw output and the parsed tool calls."""

from __future__ import annotations

import json

import gradio as gr

from . import runs, state

EXAMPLE_TOOLS = json.dumps(
    [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the current weather for a city.",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "description": "City name, e.g. Paris"}},
                    "required": ["city"],
                },
            },
        }
    ],
    indent=2,
)


def ask(tools_text: str, question: str, model_name: str, max_new_tokens: int,
        profile: gr.OAuthProfile | None = None, oauth_token: gr.OAuthToken | None = None):
    """Run one model turn with the tools; returns (status markdown, raw output, parsed calls)."""
    from toolbrain_hub.tools import ToolSchemaError, load_tools
    from toolbrain_hub.traces import parse_tool_calls

    tools_text, question = tools_text or "", question or ""
    if len(tools_text.encode()) > state.MAX_UPLOAD_BYTES:
        return "**Error:** the tool schemas are larger than 2 MB.", "", None
    if not question.strip():
        return "**Error:** type a question first.", "", None
    try:
        # Bytes, never str: a pasted string that isn't JSON must not be read as a server-side file path.
        tools = load_tools(tools_text.encode(), name="pasted tools") if tools_text.strip() else []
    except ToolSchemaError as e:
        return f"**Invalid tool schemas:** {e}", "", None
    try:
        name = (model_name or "").strip() or state.default_model()
        runs.check_model("model", name, runs.current_user(profile, oauth_token))
        model = state.chat_model(name)
        reply = model.chat([{"role": "user", "content": question}], tools=[t.to_openai() for t in tools] or None,
                           max_new_tokens=int(max_new_tokens))
    except Exception as e:  # noqa: BLE001 - shown in the page instead of a traceback
        return f"**Model error:** {type(e).__name__}: {e}", "", None
    parsed = parse_tool_calls(reply.text)
    calls = [c.to_dict() for c in parsed.calls]
    status = (f"{len(calls)} tool call(s) parsed (format: {parsed.format}); "
              f"{reply.completion_tokens} tokens in {reply.latency_s:.1f} s")
    if parsed.errors:
        status += "\n\nMalformed calls: " + "; ".join(parsed.errors)
    return status, reply.text, {"calls": calls, "content": parsed.content}


def build() -> None:
    """Add the Playground tab to the current Blocks."""
    with gr.Tab("Playground", id="playground"):
        gr.Markdown("Paste tool schemas (OpenAI function-calling JSON or an MCP `tools/list` result) and ask a "
                    "question: see what the model writes and which tool calls ToolBrain Hub parses from it.")
        with gr.Row():
            with gr.Column():
                tools = gr.Code(EXAMPLE_TOOLS, language="json", label="Tool schemas", elem_id="pg-tools")
                question = gr.Textbox("What is the weather in Paris?", label="Question", elem_id="pg-question")
                with gr.Row():
                    model = gr.Textbox(state.default_model(), label="Model (built-in name, folder, Hub id or URL)",
                                       elem_id="pg-model")
                    max_tokens = gr.Slider(16, 512, value=128, step=16, label="Max new tokens")
                run = gr.Button("Ask", variant="primary", elem_id="pg-ask")
            with gr.Column():
                status = gr.Markdown(elem_id="pg-status")
                raw = gr.Textbox(label="Raw model output", lines=6, elem_id="pg-raw")
                parsed = gr.JSON(label="Parsed tool calls", elem_id="pg-parsed")
        run.click(ask, [tools, question, model, max_tokens], [status, raw, parsed], api_name="playground_ask",
                  concurrency_limit=1, concurrency_id="model")

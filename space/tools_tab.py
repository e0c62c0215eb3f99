"""Tools tab: upload or paste tool schemas (OpenAI function-calling JSON or an MCP `tools/list` result), see them
validated, as a table. The validated tools go to the Tasks tab."""

from __future__ import annotations

import json

import gradio as gr

from . import state

EXAMPLE_TOOLS = json.dumps(
    [
        {"type": "function", "function": {
            "name": "get_weather", "description": "Get the current weather for a city.",
            "parameters": {"type": "object", "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
                "required": ["city"]}}},
        {"type": "function", "function": {
            "name": "convert_currency", "description": "Convert an amount of money from one currency to another.",
            "parameters": {"type": "object", "properties": {
                "amount": {"type": "number", "minimum": 0, "description": "The amount to convert"},
                "from_currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"],
                                  "description": "Currency of the amount"},
                "to_currency": {"type": "string", "enum": ["USD", "EUR", "GBP", "JPY"],
                                "description": "Currency to convert to"}},
                "required": ["amount", "from_currency", "to_currency"]}}},
    ],
    indent=2,
)
TABLE_HEADERS = ["tool", "description", "arguments (* required)"]


def _table(tools) -> list[list[str]]:
    rows = []
    for tool in tools:
        required = set(tool.required)
        args = []
        for key, prop in tool.properties.items():
            prop = prop if isinstance(prop, dict) else {}
            kind = prop.get("type", "any")
            kind = "/".join(kind) if isinstance(kind, list) else kind
            enum = f" {{{', '.join(map(str, prop['enum']))}}}" if prop.get("enum") else ""
            args.append(f"{key}{'*' if key in required else ''}: {kind}{enum}")
        rows.append([tool.name, tool.description, "; ".join(args) or "(none)"])
    return rows


def validate(text: str, source: str = "pasted tools"):
    """Parse and validate tool schemas; returns (status markdown, table rows, tools for the next tabs or None)."""
    from toolbrain_hub.tools import ToolSchemaError, load_tools

    data = (text or "").encode()
    if not data.strip():
        return "Paste tool schemas or upload a JSON file.", [], None
    if len(data) > state.MAX_UPLOAD_BYTES:
        return f"**Invalid tool schemas:** {source}: {len(data)} bytes, more than the limit of " \
               f"{state.MAX_UPLOAD_BYTES} bytes.", [], None
    try:
        # Bytes, never str: a pasted string that isn't JSON must not be read as a server-side file path.
        tools = load_tools(data, name=source)
    except ToolSchemaError as e:
        return _invalid(e), [], None
    names = ", ".join(f"`{t.name}`" for t in tools)
    status = f"**{len(tools)} valid tool{'s' if len(tools) != 1 else ''}:** {names}. Next: the **Tasks** tab."
    return status, _table(tools), [t.to_openai() for t in tools]


def _invalid(error) -> str:
    """A `ToolSchemaError` for the page: one line, or one bullet per fault when the schemas have several."""
    if len(error.faults) == 1:
        return f"**Invalid tool schemas:** {error}"
    faults = "\n".join(f"- {fault.describe()}" for fault in error.faults)
    return f"**Invalid tool schemas:** {error.file}: {len(error.faults)} problems:\n\n{faults}"


def upload(path: str | None):
    """Read an uploaded file as data (bounded) into the editor, then validate it."""
    import os

    if not path:
        return gr.update(), "Upload a JSON file.", [], None
    name = os.path.basename(path)
    size = os.path.getsize(path)
    if size > state.MAX_UPLOAD_BYTES:
        return "", (f"**Invalid tool schemas:** {name}: file is {size} bytes, more than the limit "
                                     f"of {state.MAX_UPLOAD_BYTES} bytes."), [], None
    with open(path, "rb") as f:
        raw = f.read(state.MAX_UPLOAD_BYTES + 1)
    text = raw.decode("utf-8", errors="replace")
    status, rows, tools = validate(text, source=name)
    return text, status, rows, tools


def build() -> gr.State:
    """Add the Tools tab; returns the state holding the validated tools (OpenAI format) for the Tasks tab."""
    with gr.Tab("1. Tools", id="tools"):
        tools_state = gr.State(None)  # inside the Tab: a bare child of gr.Tabs confuses the tab bar
        gr.Markdown("Upload or paste the tools your agent should learn to call: an OpenAI function-calling list "
                    "(`[{\"type\": \"function\", ...}]` or `{\"tools\": [...]}`) or an MCP `tools/list` result. "
                    "Files are read as data (JSON only, at most 2 MB); nothing in them is executed.")
        with gr.Row():
            with gr.Column(scale=3):
                code = gr.Code(EXAMPLE_TOOLS, language="json", label="Tool schemas", elem_id="tools-code",
                               max_lines=30)
                with gr.Row():
                    check = gr.Button("Validate", variant="primary", elem_id="tools-validate")
                    example = gr.Button("Load the example", elem_id="tools-example")
            with gr.Column(scale=2):
                file = gr.File(label="…or upload a JSON file", file_types=[".json"], type="filepath",
                               elem_id="tools-file")
                status = gr.Markdown(elem_id="tools-status")
        table = gr.Dataframe(headers=TABLE_HEADERS, value=[], label="Tools", interactive=False, wrap=True,
                             elem_id="tools-table")
        check.click(validate, [code], [status, table, tools_state], api_name="tools_validate")
        example.click(lambda: EXAMPLE_TOOLS, None, code).then(validate, [code], [status, table, tools_state])
        file.upload(upload, [file], [code, status, table, tools_state], api_name="tools_upload")
    return tools_state

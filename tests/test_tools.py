"""Tool definitions: every accepted format, conversions, argument validation and every bad-input message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from toolbrain_hub.tools import MAX_TOOLS, ToolSchemaError, ToolSpec, load_tools

DATA = Path(__file__).parent / "data"
BAD = DATA / "bad"

WEATHER = {
    "name": "get_weather",
    "description": "Get the current weather for a city.",
    "parameters": {"type": "object", "properties": {
        "city": {"type": "string", "description": "City name"},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"], "description": "Temperature unit"}},
        "required": ["city"]},
}


# ---------------------------------------------------------------------------------------------------------------
# Accepted formats


def test_openai_file_with_tools_key():
    specs = load_tools(DATA / "weather_openai.json")
    assert [s.name for s in specs] == ["get_weather", "get_forecast", "get_air_quality"]
    assert specs[0].required == ["city"]
    assert specs[1].properties["days"] == {"type": "integer", "minimum": 1, "maximum": 14,
                                           "description": "Number of days"}


def test_openai_list_and_single_item_and_bare_items():
    wrapped = {"type": "function", "function": WEATHER}
    assert load_tools([wrapped])[0] == load_tools([WEATHER])[0] == load_tools(wrapped)[0] == load_tools(WEATHER)[0]
    # Responses-API flat form and the legacy {"functions": [...]} container
    assert load_tools([{"type": "function", **WEATHER}])[0].name == "get_weather"
    assert load_tools({"functions": [WEATHER]})[0].name == "get_weather"


def test_mcp_tools_list_result_and_jsonrpc_envelope():
    specs = load_tools(DATA / "calendar_mcp.json")  # {"jsonrpc":..., "result": {"tools": [...]}}
    assert [s.name for s in specs] == ["create_event", "list_events", "cancel_event"]
    assert specs[0].parameters["$defs"]["Reminder"]["required"] == ["minutes_before"]
    assert specs[1].output_schema == {"type": "object", "properties": {"events": {"type": "array"}}}
    bare = {"tools": [{"name": "ping", "description": "Ping the server", "inputSchema": {"type": "object"}}]}
    assert load_tools(bare)[0].parameters == {"type": "object"}


def test_json_text_and_path_string(tmp_path):
    text = json.dumps([WEATHER])
    assert load_tools(text)[0].name == "get_weather"
    path = tmp_path / "tools.json"
    path.write_text(text)
    assert load_tools(str(path))[0].name == "get_weather"


def test_missing_parameters_means_no_arguments():
    spec = load_tools([{"name": "now", "description": "Current time"}])[0]
    assert spec.parameters == {"type": "object", "properties": {}}
    assert spec.validate_arguments({}) == []


def test_python_function_with_hints_and_docstring():
    def convert_currency(amount: float, to: str, source: str = "USD") -> float:
        """Convert money between currencies.

        Args:
            amount: How much money.
            to: Target currency code.
            source: Source currency code.
        """
        return amount

    spec = load_tools([convert_currency])[0]
    assert spec.name == "convert_currency"
    assert spec.description == "Convert money between currencies."
    assert spec.properties["amount"] == {"type": "number", "description": "How much money."}
    assert spec.required == ["amount", "to"]
    assert spec.output_schema == {"type": "number"}


def test_python_function_without_docstring_is_rejected():
    def undocumented(x: int):
        return x

    with pytest.raises(ToolSchemaError) as e:
        load_tools([undocumented])
    assert "undocumented" in str(e.value) and "docstring" in str(e.value)


def test_smolagents_tool_instance():
    from smolagents import Tool

    class Translate(Tool):
        name = "translate"
        description = "Translate text into a language."
        inputs = {"text": {"type": "string", "description": "Text to translate"},
                  "language": {"type": "string", "description": "Target language", "nullable": True}}
        output_type = "string"

        def forward(self, text: str, language: str | None = None) -> str:
            return text

    spec = load_tools([Translate()])[0]
    assert spec.name == "translate"
    assert spec.required == ["text"]
    assert spec.properties["language"] == {"type": "string", "description": "Target language"}
    assert spec.output_schema == {"type": "string"}


def test_to_openai_and_dict_round_trip():
    spec = load_tools([WEATHER])[0]
    assert spec.to_openai() == {"type": "function", "function": WEATHER}
    assert ToolSpec.from_dict(spec.to_dict()) == spec
    mcp = load_tools(DATA / "calendar_mcp.json")[1]
    assert ToolSpec.from_dict(mcp.to_dict()).output_schema == mcp.output_schema


def test_openai_format_renders_in_a_chat_template(tiny_model):
    _, tokenizer = tiny_model
    tools = [s.to_openai() for s in load_tools(DATA / "weather_openai.json")]
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tools=tools, tokenize=False)
    assert '"name": "get_forecast"' in text and '"maximum": 14' in text


# ---------------------------------------------------------------------------------------------------------------
# Argument validation and conversions


def test_validate_arguments_names_the_field():
    spec = load_tools(DATA / "calendar_mcp.json")[0]
    good = {"title": "Team lunch", "date": "2025-03-14", "start_time": "12:30",
            "reminder": {"minutes_before": 15, "method": "popup"}}
    assert spec.validate_arguments(good) == []
    problems = spec.validate_arguments({"title": "Team lunch", "date": "2025-02-30", "start_time": "25:00",
                                        "reminder": {"minutes_before": 7}})
    assert any(p.startswith("date:") and "is not a 'date'" in p for p in problems)
    assert any(p.startswith("start_time:") for p in problems)
    assert any(p.startswith("reminder.minutes_before:") and "multiple of 5" in p for p in problems)
    assert spec.validate_arguments({"title": "x"})[0] == "'date' is a required property"
    assert spec.validate_arguments("not a dict") == ["arguments must be a JSON object, got str"]


def test_smolagents_tool_without_implementation_says_what_to_do():
    spec = load_tools([WEATHER])[0]
    tool = spec.to_smolagents_tool()
    assert tool.name == "get_weather" and tool.inputs["unit"]["nullable"] is True
    assert tool.inputs["unit"]["enum"] == ["celsius", "fahrenheit"]
    with pytest.raises(NotImplementedError, match="pass tools= with an implementation"):
        tool(city="Paris")


def test_smolagents_tool_with_implementation_runs_and_round_trips():
    spec = load_tools([WEATHER])[0]
    tool = spec.to_smolagents_tool(lambda city, unit="celsius": f"18 degrees {unit} in {city}")
    assert tool(city="Paris") == "18 degrees celsius in Paris"
    from smolagents.models import get_tool_json_schema

    rendered = get_tool_json_schema(tool)["function"]
    assert rendered["parameters"]["required"] == ["city"]
    back = load_tools([tool])[0]
    assert back.name == spec.name and back.required == spec.required
    assert back.properties["unit"]["enum"] == ["celsius", "fahrenheit"]


def test_smolagents_tool_needs_identifier_names():
    spec = load_tools([{**WEATHER, "name": "get-weather"}])[0]
    with pytest.raises(ToolSchemaError, match="Python identifiers"):
        spec.to_smolagents_tool()


def test_to_callable_renders_the_same_schema_for_trl(tiny_model_dir):
    from transformers import AutoTokenizer
    from transformers.utils import get_json_schema

    from toolbrain_hub.tools import install_tool_schemas

    spec = load_tools(DATA / "weather_openai.json")[1]
    fn = spec.to_callable(lambda **kw: kw)
    # a prepared tokenizer renders the callable as the tool's whole schema
    assert fn.tool_schema == spec.to_openai()
    tokenizer = install_tool_schemas(AutoTokenizer.from_pretrained(tiny_model_dir))
    messages = [{"role": "user", "content": "Forecast for Oslo?"}]
    assert tokenizer.apply_chat_template(messages, tools=[fn], tokenize=False) == \
        tokenizer.apply_chat_template(messages, tools=[spec.to_openai()], tokenize=False)
    # its signature, hints and docstring say what type hints can (get_json_schema's view, what older agents saw)
    schema = get_json_schema(fn)["function"]
    assert schema["name"] == "get_forecast"
    assert schema["description"] == spec.description
    assert schema["parameters"]["required"] == ["location", "days"]
    assert {k: v["type"] for k, v in schema["parameters"]["properties"].items()} == {
        "location": "string", "days": "integer", "include_hourly": "boolean"}
    assert fn(location="Oslo", days=2) == {"location": "Oslo", "days": 2}
    enum_schema = get_json_schema(load_tools([WEATHER])[0].to_callable())["function"]
    assert enum_schema["parameters"]["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]


def test_to_callable_shows_the_constraints_calls_are_validated_against():
    """Schema-only validation enforces format, pattern and ranges: even the type-hint view of a tool (for code that
    renders it with `get_json_schema`) says so in the argument descriptions."""
    from transformers.utils import get_json_schema

    spec = load_tools([{"name": "book", "description": "Book a room.", "parameters": {
        "type": "object", "required": ["day", "code", "guests"], "properties": {
            "day": {"type": "string", "format": "date"},
            "code": {"type": "string", "pattern": "^[A-Z]{3}$", "description": "Room code"},
            "guests": {"type": "integer", "minimum": 1, "maximum": 4},
            "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3}}}}])[0]
    props = get_json_schema(spec.to_callable())["function"]["parameters"]["properties"]
    assert props["day"]["description"] == "day (format: date, YYYY-MM-DD)"
    assert props["code"]["description"] == "Room code (pattern: ^[A-Z]{3}$)"
    assert props["guests"]["description"] == "guests (minimum 1; maximum 4)"
    assert props["tags"]["description"] == "tags (at most 3 items)"
    assert props["guests"]["type"] == "integer"


# ---------------------------------------------------------------------------------------------------------------
# Bad inputs: the message names the file, the tool and the field


@pytest.mark.parametrize("filename, tool, field, problem", [
    ("missing_description.json", "'get_weather'", "[0].description", "missing description"),
    ("missing_name.json", "at index 0", "[0].function.name", "missing tool name"),
    ("bad_name.json", "'get weather!'", "[0].name", "bad name"),
    ("duplicate_names.json", "'lookup' (index 1)", "tools[1].name", "duplicate tool name (first defined at index 0)"),
    ("parameters_not_object.json", "'get_weather'", "[0].parameters.type", "parameters must be an object schema"),
    ("invalid_schema.json", "'get_weather'", "tools[1].inputSchema.properties.city.type", "invalid JSON Schema"),
    ("external_ref.json", "'fetch_user'", "[0].parameters.properties.user.$ref",
     "unsupported construct: $ref to an external document"),
    ("required_not_defined.json", "'set_alarm'", "[0].parameters.required",
     "required argument 'label' is not defined"),
    ("unsupported_type.json", "at index 0", "[0].type", "unsupported tool type 'code_interpreter'"),
])
def test_bad_files_name_file_tool_and_field(filename, tool, field, problem):
    path = BAD / filename
    with pytest.raises(ToolSchemaError) as e:
        load_tools(path)
    message = str(e.value)
    assert message.startswith(str(path))
    assert f"tool {tool}" in message
    assert f"field '{field}'" in message
    assert problem in message
    assert e.value.file == str(path) and e.value.field == field


def test_not_json_names_line_and_column():
    path = BAD / "not_json.json"
    with pytest.raises(ToolSchemaError) as e:
        load_tools(path)
    assert str(e.value) == (f"{path}, line 4, column 36: not valid JSON: "
                            "Expecting property name enclosed in double quotes")
    assert e.value.line == 4


@pytest.mark.parametrize("schema, field, problem", [
    ({"type": "object", "properties": {"n": {"type": "integer", "minimum": "3"}}},
     "[0].parameters.properties.n.minimum", "'3' is not of type 'number'"),
    ({"type": "object", "properties": {"tags": {"type": "array", "items": {"type": 5}}}},
     "[0].parameters.properties.tags.items.type", "invalid JSON Schema"),
    ({"type": "object", "properties": {"x": {"$ref": "#/$defs/Missing"}}},
     "[0].parameters.properties.x.$ref", "does not resolve"),
    ({"type": "object", "properties": {"x": {"$dynamicRef": "#node"}}},
     "[0].parameters.properties.x.$dynamicRef", "unsupported construct: $dynamicRef"),
    ({"type": "object", "properties": {"x": {"$ref": "other.json#/defs/x"}}},
     "[0].parameters.properties.x.$ref", "external document"),
    ({"$schema": "https://example.com/my-dialect", "type": "object"}, "[0].parameters.$schema",
     "unknown JSON Schema dialect"),
    ({"type": "object", "properties": ["city"]}, "[0].parameters.properties", "properties must be an object"),
    ("not a schema", "[0].parameters", "parameters must be a JSON Schema object"),
])
def test_invalid_parameter_schemas(schema, field, problem):
    with pytest.raises(ToolSchemaError) as e:
        load_tools([{"name": "t", "description": "A tool", "parameters": schema}], name="inline.json")
    message = str(e.value)
    assert message.startswith("inline.json, tool 't', ")
    assert f"field '{field}'" in message and problem in message


def test_meta_schema_of_declared_draft_is_used():
    draft7 = {"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
              "properties": {"n": {"type": "integer", "exclusiveMinimum": 0}}}
    spec = load_tools([{"name": "t", "description": "d", "parameters": draft7}])[0]
    assert spec.validate_arguments({"n": 0}) == ["n: 0 is less than or equal to the minimum of 0"]
    draft4_style = {**draft7, "properties": {"n": {"type": "integer", "exclusiveMinimum": True}}}
    with pytest.raises(ToolSchemaError, match="exclusiveMinimum"):
        load_tools([{"name": "t", "description": "d", "parameters": draft4_style}])


def test_too_many_tools(tmp_path):
    path = tmp_path / "many.json"
    path.write_text(json.dumps([{"name": f"t{i}", "description": "x"} for i in range(MAX_TOOLS + 1)]))
    with pytest.raises(ToolSchemaError) as e:
        load_tools(path)
    assert str(e.value) == f"{path}: {MAX_TOOLS + 1} tools, more than the limit of {MAX_TOOLS}"
    assert len(load_tools(path, max_tools=MAX_TOOLS + 1)) == MAX_TOOLS + 1


def test_too_large_file_is_refused_before_parsing(tmp_path):
    path = tmp_path / "big.json"
    path.write_text(json.dumps([{"name": "t", "description": "x" * 3_000_000}]))
    with pytest.raises(ToolSchemaError) as e:
        load_tools(path)
    assert str(e.value).startswith(f"{path}: file is ") and "more than the limit of 2097152" in str(e.value)


def test_other_bad_inputs(tmp_path):
    with pytest.raises(ToolSchemaError, match="file not found"):
        load_tools(tmp_path / "nope.json")
    with pytest.raises(ToolSchemaError, match="no tools found"):
        load_tools("[]")
    with pytest.raises(ToolSchemaError, match="a tool must be a JSON object, got a string"):
        load_tools('["get_weather"]')
    with pytest.raises(ToolSchemaError, match="JSON-RPC error response"):
        load_tools({"jsonrpc": "2.0", "id": 1, "error": {"code": -32601, "message": "Method not found"}})
    with pytest.raises(ToolSchemaError, match="field 'tools': must be a list of tools"):
        load_tools({"tools": {"name": "x"}})
    with pytest.raises(ToolSchemaError, match="NaN is not valid JSON"):
        load_tools('[{"name": "t", "description": "d", "parameters": {"type": "object", "default": NaN}}]')
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe[]")
    with pytest.raises(ToolSchemaError, match="not UTF-8"):
        load_tools(binary)
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ToolSchemaError, match="not valid JSON"):
        load_tools(deep)


def test_schemas_are_data_never_code(tmp_path):
    # Strings that would do something if evaluated stay inert strings.
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('x')"
    spec = load_tools([{"name": "t", "description": payload, "parameters": {
        "type": "object", "properties": {"x": {"type": "string", "default": payload, "pattern": ".*"}}}}])[0]
    spec.validate_arguments({"x": payload})
    spec.to_openai()
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------------------
# CLI: `toolbrain-hub tools validate`


def run_cli(*args: str, env: dict | None = None):
    import os
    import subprocess
    import sys

    full_env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    return subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", *args], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[1], env=full_env, timeout=300)


def test_cli_validate_ok():
    result = run_cli("tools", "validate", str(DATA / "calendar_mcp.json"))
    assert result.returncode == 0, result.stderr
    assert "3 valid tools" in result.stdout
    assert "create_event(title, date, start_time, attendees?, reminder?)" in result.stdout
    as_json = run_cli("tools", "validate", "--json", str(DATA / "weather_openai.json"))
    assert [t["function"]["name"] for t in json.loads(as_json.stdout)] == ["get_weather", "get_forecast",
                                                                           "get_air_quality"]


@pytest.mark.parametrize("filename, expected", [
    ("invalid_schema.json", "tool 'get_weather', field 'tools[1].inputSchema.properties.city.type'"),
    ("not_json.json", "line 4, column 36: not valid JSON"),
    ("duplicate_names.json", "tool 'lookup' (index 1), field 'tools[1].name': duplicate tool name"),
])
def test_cli_validate_bad_file_exit_2_one_line(filename, expected):
    path = BAD / filename
    result = run_cli("tools", "validate", str(path))
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}") and expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_cli_validate_missing_file():
    result = run_cli("tools", "validate", "no/such/tools.json")
    assert result.returncode == 2
    assert result.stderr.strip() == "error: no/such/tools.json: file not found"


@pytest.mark.parametrize("source, got", [
    ({"foo": 1}, "got an object with the keys 'foo'"),
    ({}, "got an empty object"),
    (42, "got a number"),
    (b'"text"', "got a string"),
    (b"null", "got null"),
])
def test_something_that_is_no_tool_list_says_what_was_expected(source, got):
    with pytest.raises(ToolSchemaError) as e:
        load_tools(source, name="upload.json")
    message = str(e.value)
    assert message.startswith("upload.json: not a tool list: expected a list of tools, {\"tools\": [...]}")
    assert "OpenAI" in message and "MCP" in message and message.endswith(got)
    assert "missing tool name" not in message and e.value.faults == [e.value]


def test_every_fault_of_a_list_is_reported_with_its_tool_and_field():
    tools = [
        {"type": "function", "function": {"description": "Cancel a booking."}},  # no name
        {"type": "function", "function": {"name": "list_airports", "description": "List airports.",
                                          "parameters": {"type": "string"}}},  # parameters not an object schema
        {"type": "function", "function": {"name": "ok", "description": "Fine."}},
        {"name": "two words", "inputSchema": {"type": "object", "properties": {}, "required": ["x"]}},  # 3 faults
        {"type": "function", "function": {"name": "ok", "description": "Again."}},  # duplicate
    ]
    with pytest.raises(ToolSchemaError) as e:
        load_tools(tools, name="tools.json")
    found = [(f.tool, f.field) for f in e.value.faults]
    assert found == [("at index 0", "[0].function.name"), ("'list_airports'", "[1].function.parameters.type"),
                     ("'two words'", "[3].name"), ("'two words'", "[3].description"),
                     ("'two words'", "[3].inputSchema.required"), ("'ok' (index 4)", "[4].function.name")]
    message = str(e.value)
    assert message.startswith("tools.json: 6 problems: (1) tool at index 0, field '[0].function.name': missing tool "
                              "name; (2) tool 'list_airports'")
    assert "(6) tool 'ok' (index 4), field '[4].function.name': duplicate tool name" in message
    assert all(f.file == "tools.json" for f in e.value.faults)


def test_a_long_fault_list_is_cut_in_the_message_but_kept_whole():
    with pytest.raises(ToolSchemaError) as e:
        load_tools([{"name": f"t{i}"} for i in range(30)], name="many.json")
    assert len(e.value.faults) == 30 and str(e.value).endswith("; and 10 more")


def test_an_optional_python_argument_accepts_null():
    def search(query: str, author: str | None = None) -> str:
        """Search.

        Args:
            query: The words.
            author: Only by this author.
        """
        return query

    spec = load_tools([search])[0]
    assert spec.properties["author"]["type"] == ["string", "null"] and "nullable" not in spec.properties["author"]
    assert spec.validate_arguments({"query": "x", "author": None}) == []
    assert spec.validate_arguments({"query": None}) != []

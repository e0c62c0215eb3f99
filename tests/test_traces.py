"""Tests for the tool-call parser, Trace and its adapters."""

from __future__ import annotations

import json

import pytest

from toolbrain_hub.traces import ParsedReply, ToolCall, parse_tool_calls

# ---------------------------------------------------------------------------------------------------------------------
# Parser


def _names(reply: ParsedReply) -> list[str]:
    return [c.name for c in reply.calls]


def test_tagged_single_call_qwen_style():
    text = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "C"}}\n</tool_call>'
    reply = parse_tool_calls(text)
    assert reply.format == "tagged"
    assert reply.calls == [ToolCall("get_weather", {"city": "Paris", "unit": "C"})]
    assert reply.errors == [] and reply.content == ""


def test_tagged_several_calls_with_text_before():
    text = (
        "Let me look both up.\n"
        '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>\n'
        '<tool_call>\n{"name": "get_time", "arguments": {"tz": "Europe/Paris"}}\n</tool_call>'
    )
    reply = parse_tool_calls(text)
    assert _names(reply) == ["get_weather", "get_time"]
    assert reply.content == "Let me look both up."
    assert reply.format == "tagged"


def test_tagged_bad_json_is_reported_and_good_calls_kept():
    text = (
        '<tool_call>{"name": "a", "arguments": {"x": 1}}</tool_call>'
        '<tool_call>{"name": "b", "arguments": {x: 2}}</tool_call>'
        '<tool_call>{"arguments": {"q": "hi"}}</tool_call>'
        '<tool_call>{"name": "c", "arguments": "not json"}</tool_call>'
        '<tool_call>{"name": "d", "arguments": [1, 2]}</tool_call>'
    )
    reply = parse_tool_calls(text)
    assert _names(reply) == ["a"]
    assert len(reply.errors) == 4
    assert "#2" in reply.errors[0] and "invalid JSON" in reply.errors[0]
    assert "missing tool name" in reply.errors[1]
    assert "'c'" in reply.errors[2] and "not valid JSON" in reply.errors[2]
    assert "'d'" in reply.errors[3] and "must be a JSON object" in reply.errors[3]


def test_tagged_unclosed_last_tag():
    ok = parse_tool_calls('<tool_call>\n{"name": "search", "arguments": {"q": "x"}}<|im_end|>')
    assert _names(ok) == ["search"] and ok.errors == []
    truncated = parse_tool_calls('<tool_call>\n{"name": "search", "argum')
    assert truncated.calls == [] and "not closed" in truncated.errors[0]
    assert truncated.format == "tagged"


def test_bare_json_the_default_model_style():
    # What Qwen2.5-Coder-0.5B really writes: the JSON, no tags.
    reply = parse_tool_calls('{"name": "get_weather", "arguments": {"city": "Paris"}}')
    assert reply.format == "bare" and reply.calls == [ToolCall("get_weather", {"city": "Paris"})]
    after_prose = parse_tool_calls(
        'To find the weather I will use the tool:\n{"name": "get_weather", "arguments": {"city": "Paris"}}\nDone.'
    )
    assert after_prose.format == "bare" and _names(after_prose) == ["get_weather"]
    assert after_prose.content.startswith("To find the weather") and after_prose.content.endswith("Done.")
    assert "{" not in after_prose.content


def test_fenced_json_and_plain_fence():
    text = 'Here is the call:\n```json\n{"name": "add", "arguments": {"a": 2, "b": 3}}\n```\nHope it helps.'
    reply = parse_tool_calls(text)
    assert reply.format == "fenced" and reply.calls == [ToolCall("add", {"a": 2, "b": 3})]
    assert reply.content == "Here is the call:\n\nHope it helps."
    plain = parse_tool_calls('```\n{"name": "add", "arguments": {"a": 1, "b": 1}}\n```')
    assert plain.format == "fenced" and _names(plain) == ["add"]


def test_fenced_non_call_blocks_are_text():
    text = '```python\nprint({"name": "x", "arguments": {}})\n```\n```json\n{"city": "Paris", "temp": 21}\n```'
    reply = parse_tool_calls(text)
    assert reply.calls == [] and reply.errors == [] and reply.format == "none"
    assert reply.content == text


def test_list_of_calls_aliases_and_wrappers():
    text = json.dumps(
        [
            {"name": "a", "parameters": {"x": 1}},
            {"type": "function", "id": "call_7", "function": {"name": "b", "arguments": '{"y": "2"}'}},
            {"name": "c", "arguments": None},
        ]
    )
    reply = parse_tool_calls(text)
    assert reply.calls == [ToolCall("a", {"x": 1}), ToolCall("b", {"y": "2"}, id="call_7"), ToolCall("c", {})]
    assert reply.format == "bare"
    tagged_list = parse_tool_calls(f"<tool_call>{text}</tool_call>")
    assert _names(tagged_list) == ["a", "b", "c"] and tagged_list.format == "tagged"


def test_nested_braces_and_tags_inside_strings():
    args = {"code": "def f():\n    return {'a': [1, {'b': 2}]}", "note": "use } and { and ```"}
    text = "Running it: " + json.dumps({"name": "run_python", "arguments": args}) + " ok"
    reply = parse_tool_calls(text)
    assert reply.calls == [ToolCall("run_python", args)]
    assert reply.content == "Running it:  ok"
    tagged = parse_tool_calls("<tool_call>" + json.dumps({"name": "run_python", "arguments": args}) + "</tool_call>")
    assert tagged.calls == [ToolCall("run_python", args)]


def test_json_without_a_name_is_not_a_call():
    for text in [
        'The result is {"temperature": 21, "unit": "C"}.',
        '{"name": "Alice", "age": 30}',  # has a name, but keys a call never has
        "[1, 2, 3]",
        '{"type": "object", "properties": {}}',
        "Use braces like { and } freely.",
    ]:
        reply = parse_tool_calls(text)
        assert reply.calls == [] and reply.errors == [] and reply.format == "none", text
        assert reply.content == text.strip()


def test_bare_malformed_call_is_reported():
    reply = parse_tool_calls('Calling: {"name": "get_weather", "arguments": {"city": "Paris"}')
    assert reply.calls == [] and reply.format == "bare"
    assert "invalid JSON" in reply.errors[0]
    assert reply.content == "Calling:"
    fenced = parse_tool_calls('```json\n{"name": "get_weather", "arguments": {"city": }}\n```')
    assert fenced.format == "fenced" and fenced.calls == [] and "invalid JSON" in fenced.errors[0]


def test_several_bare_calls_and_empty_text():
    text = '{"name": "a", "arguments": {}}\n{"name": "b", "arguments": {"k": [1, 2]}}'
    assert _names(parse_tool_calls(text)) == ["a", "b"]
    empty = parse_tool_calls("")
    assert empty == ParsedReply(content="", calls=[], errors=[], format="none")


def test_toolcall_and_parsed_reply_round_trip():
    call = ToolCall("f", {"a": [1, {"b": None}]}, id="c1")
    assert ToolCall.from_dict(json.loads(json.dumps(call.to_dict()))) == call
    assert call.to_openai() == {"type": "function", "id": "c1", "function": {"name": "f", "arguments": call.arguments}}
    reply = parse_tool_calls('x <tool_call>{"name": "f", "arguments": {}}</tool_call><tool_call>{</tool_call>')
    assert ParsedReply.from_dict(json.loads(json.dumps(reply.to_dict()))) == reply


def test_parser_output_renders_through_the_chat_template(tiny_model):
    # The parsed calls, in to_openai form, are what the Qwen2.5 template needs to render an assistant tool turn.
    _, tokenizer = tiny_model
    reply = parse_tool_calls('{"name": "get_weather", "arguments": {"city": "Paris"}}')
    messages = [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": reply.content, "tool_calls": [c.to_openai() for c in reply.calls]},
    ]
    rendered = tokenizer.apply_chat_template(messages, tokenize=False)
    tagged = parse_tool_calls(rendered.split("<|im_start|>assistant", 1)[1])
    assert tagged.format == "tagged" and tagged.calls == reply.calls


@pytest.mark.parametrize("bad", [None])
def test_none_text_is_no_call(bad):
    assert parse_tool_calls(bad).format == "none"

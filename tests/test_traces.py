"""Tests for the tool-call parser, Trace and its adapters."""

from __future__ import annotations

import json

import pytest

from toolbrain_hub.traces import (
    ExpectedCall,
    ParsedReply,
    ToolCall,
    Trace,
    extract_json,
    load_traces,
    parse_tool_calls,
    read_calls,
    save_traces,
)

# ---------------------------------------------------------------------------------------------------------------------
# Expected calls (a task's `expected_calls` column)


def test_read_calls_plain_and_extended_forms():
    plain, extended, wrapped = read_calls(json.dumps([
        {"name": "get_weather", "arguments": {"city": "Paris"}},
        {"name": "get_weather", "arguments": {"city": "New York", "unit": "F"},
         "acceptable": {"city": ["NYC", "New York City"], "days": [1, 2]}, "optional": ["unit", "days", "unit"]},
        {"type": "function", "function": {"name": "add", "arguments": '{"a": 1, "b": 2}', "optional": ["b"]}},
    ]), where="task 't1' expected_calls")
    assert all(isinstance(c, ExpectedCall) and isinstance(c, ToolCall) for c in (plain, extended, wrapped))
    assert not plain.extended and plain.acceptable is None and plain.optional is None
    assert plain.to_dict() == {"name": "get_weather", "arguments": {"city": "Paris"}}  # written back as it was read
    assert extended.extended and extended.arguments == {"city": "New York", "unit": "F"}
    assert extended.acceptable == {"city": ["NYC", "New York City"], "days": [1, 2]}
    assert extended.optional == ["unit", "days"]  # duplicates dropped, order kept
    assert read_calls([extended.to_dict()]) == [extended]  # round trip
    assert wrapped.extended and wrapped.optional == ["b"] and wrapped.acceptable is None  # inside the wrapper too
    assert read_calls('[{"name": "f", "arguments": {}, "optional": []}]')[0].extended  # empty still opts in
    assert read_calls('[{"name": "f", "arguments": {}, "optional": null}]')[0].extended is False  # null: absent
    assert read_calls("") == read_calls(None) == read_calls("[]") == []


@pytest.mark.parametrize(("call", "message"), [
    ({"name": "f", "arguments": {"x": 1}, "acceptable": [1, 2]},
     r"expected_calls\[0\]: 'f': \"acceptable\" must be an object of argument -> list of values, got list"),
    ({"name": "f", "arguments": {"x": 1}, "acceptable": {"x": 2}}, r"'f': \"acceptable\" of 'x' must be a non-empty"),
    ({"name": "f", "arguments": {"x": 1}, "acceptable": {"x": []}}, r"\"acceptable\" of 'x' must be a non-empty list"),
    ({"name": "f", "arguments": {"x": 1}, "acceptable": {"y": [2]}},
     r"\"acceptable\" lists 'y', which is neither in its \"arguments\" nor \"optional\""),
    ({"name": "f", "arguments": {}, "optional": "x"}, r"'f': \"optional\" must be a list of argument names"),
    ({"name": "f", "arguments": {}, "optional": ["x", 3]}, r"\"optional\" must be a list of argument names"),
])
def test_read_calls_names_the_bad_field_of_the_extended_form(call, message):
    with pytest.raises(ValueError, match=message):
        read_calls(json.dumps([call]), where="task 't1' expected_calls")


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


def test_parsed_reply_to_message_keeps_format_through_from_messages():
    reply = parse_tool_calls('Checking. {"name": "get_weather", "arguments": {"city": "Oslo"}} <tool_call>{oops')
    assert reply.format == "tagged"  # a tag anywhere makes the reply tagged; the bare JSON stays text
    bare = parse_tool_calls('Checking. {"name": "get_weather", "arguments": {"city": "Oslo"}}')
    message = bare.to_message()
    assert message["tool_calls"] == [
        {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Oslo"}}}
    ]
    trace = Trace.from_messages([{"role": "user", "content": "Oslo weather?"}, message])
    assert trace.turns[0].format == "bare" and trace.turns[0].text == "Checking."
    assert [c.name for c in trace.calls] == ["get_weather"]


# ---------------------------------------------------------------------------------------------------------------------
# Trace from TRL messages (the exact shapes GRPOTrainer builds: parse_response dicts and {"role": "tool", ...})


def _trl_episode() -> list[dict]:
    prompt = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "What is the weather in Paris and in Atlantis?"},
    ]
    completion = [
        {
            "role": "assistant",
            "content": "Let me check.",
            "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}},
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Atlantis"}}},
            ],
        },
        {"role": "tool", "name": "get_weather", "content": "Sunny, 21 C"},
        {"role": "tool", "name": "get_weather", "content": "{'error': 'unknown city Atlantis'}"},
        {"role": "assistant", "content": "Paris: sunny, 21 C. Atlantis: unknown."},
    ]
    return prompt + completion


def test_from_trl_messages():
    trace = Trace.from_messages(_trl_episode(), task_id="t-1")
    assert trace.query == "What is the weather in Paris and in Atlantis?"
    assert trace.task_id == "t-1"
    first, last = trace.turns
    assert first.format == "tagged" and first.text == "Let me check."
    assert [c.arguments["city"] for c in first.calls] == ["Paris", "Atlantis"]
    assert first.call_outcomes() == [True, False]
    assert last.calls == [] and last.format == "none"
    assert trace.final_answer == "Paris: sunny, 21 C. Atlantis: unknown."
    assert trace.totals() == {
        "turns": 2,
        "tool_calls": 2,
        "invalid_calls": 0,
        "errors": 1,
        "unexecuted_calls": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
    }


def test_from_messages_bare_and_malformed_calls_trl_did_not_execute():
    messages = [
        {"role": "user", "content": "weather in Rome?"},
        # What TRL gives for the default model's bare JSON: text only, nothing executed.
        {"role": "assistant", "content": '{"name": "get_weather", "arguments": {"city": "Rome"}}'},
    ]
    trace = Trace.from_messages(messages)
    (turn,) = trace.turns
    assert turn.format == "bare" and turn.call_outcomes() == [None]
    assert trace.final_answer is None  # it ended on a call, not an answer
    assert trace.totals()["unexecuted_calls"] == 1
    # TRL's fallback when a tag holds bad JSON: the raw text comes back as content.
    bad = Trace.from_messages(
        [{"role": "user", "content": "x"}, {"role": "assistant", "content": "<tool_call>\n{bad}\n</tool_call>"}]
    )
    assert bad.turns[0].format == "tagged" and bad.turns[0].calls == [] and len(bad.turns[0].errors) == 1
    assert bad.totals()["invalid_calls"] == 1 and bad.final_answer is None


def test_from_messages_ids_content_blocks_and_tokens(tiny_model):
    _, tokenizer = tiny_model
    messages = [
        {"role": "user", "content": [{"type": "text", "text": "Add 2 and 3"}]},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}},
                {"id": "c2", "type": "function", "function": {"name": "add", "arguments": {"a": 1, "b": 1}}},
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "name": "add", "content": "2"},
        {"role": "tool", "tool_call_id": "c1", "name": "add", "content": '{"error": "overflow"}'},
        {"role": "user", "content": "Only the first sum, please."},
        {"role": "assistant", "content": "5"},
    ]
    trace = Trace.from_messages(messages, tokenizer=tokenizer)
    assert trace.query == "Add 2 and 3"
    assert [t.role for t in trace.turns] == ["assistant", "user", "assistant"]
    assert trace.turns[0].call_outcomes() == [False, True]  # matched by id, not by order
    assert trace.turns[0].calls[0].arguments == {"a": 2, "b": 3}
    assert trace.turns[2].completion_tokens == len(tokenizer.encode("5", add_special_tokens=False))
    assert trace.turns[0].completion_tokens > 10  # the calls are counted even though TRL removed the tags
    assert trace.totals()["completion_tokens"] == trace.turns[0].completion_tokens + trace.turns[2].completion_tokens
    assert trace.final_answer == "5"


def test_from_messages_rejects_unknown_role():
    with pytest.raises(ValueError, match=r"message 1 has an unknown role 'robot'"):
        Trace.from_messages([{"role": "user", "content": "x"}, {"role": "robot", "content": "y"}])


def test_trace_jsonl_round_trip(tmp_path):
    traces = [
        Trace.from_messages(_trl_episode(), task_id="t-1", metadata={"step": 3, "model": "tiny"}),
        Trace.from_text("2+2?", "4", task_id="t-2"),
        Trace(query="nothing happened"),
    ]
    path = tmp_path / "sub" / "traces.jsonl"
    save_traces(traces, str(path))
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[0])["totals"]["errors"] == 1
    loaded = load_traces(str(path))
    assert loaded == traces
    assert [t.fingerprint() for t in loaded] == [t.fingerprint() for t in traces]
    assert traces[0].fingerprint() != traces[1].fingerprint()


def test_load_traces_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(Trace(query="ok").to_dict()) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=r"bad\.jsonl, line 3: not a valid trace"):
        load_traces(str(path))
    path.write_text('{"query": "x", "turns": 5}\n')
    with pytest.raises(ValueError, match=r"line 1: .*'turns' must be a list"):
        load_traces(str(path))


def test_render_is_compact_and_complete():
    trace = Trace.from_messages(_trl_episode())
    trace.turns[0].results[0].content = "x" * 5000
    text = trace.render(max_chars=200)
    assert "Task: What is the weather in Paris and in Atlantis?" in text
    assert 'call get_weather({"city": "Atlantis"})' in text
    assert "-> get_weather: ERROR {'error': 'unknown city Atlantis'}" in text
    assert "chars cut" in text and len(text) < 1200
    assert "Final answer: Paris: sunny, 21 C. Atlantis: unknown." in text
    assert "(2 turns, 2 tool calls, 0 malformed, 1 failed)" in text


# ---------------------------------------------------------------------------------------------------------------------
# Trace from a real smolagents run (ToolCallingAgent driven by a scripted smolagents Model)


def get_weather(city: str) -> str:
    """Current weather for a city.

    Args:
        city: the city name
    """
    if city == "Atlantis":
        raise ValueError("unknown city Atlantis")
    return f"Sunny, 21 C in {city}"


def _scripted_agent(replies: list[str], max_steps: int = 8):
    from smolagents import ToolCallingAgent, tool
    from smolagents.models import ChatMessage, MessageRole, Model
    from smolagents.monitoring import TokenUsage

    class ScriptedModel(Model):
        """Returns the given replies in order, like a model that writes its calls as text."""

        def __init__(self, replies):
            super().__init__(model_id="scripted")
            self.replies = list(replies)

        def generate(self, messages, stop_sequences=None, response_format=None, tools_to_call_from=None, **kwargs):
            text = self.replies.pop(0)
            return ChatMessage(
                role=MessageRole.ASSISTANT, content=text, token_usage=TokenUsage(input_tokens=120, output_tokens=15)
            )

    agent = ToolCallingAgent(tools=[tool(get_weather)], model=ScriptedModel(replies), verbosity_level=-1)
    return agent, agent.run("What is the weather in Paris?", max_steps=max_steps)


def test_from_smolagents_real_run():
    agent, output = _scripted_agent(
        [
            'I will check. {"name": "get_weather", "arguments": {"city": "Atlantis"}}',
            '```json\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n```',
            "I think it is sunny.",  # no call: a parsing error for a ToolCallingAgent
            '{"name": "get_time", "arguments": {}}',
            '{"name": "final_answer", "arguments": {"answer": "Sunny, 21 C"}}',
        ]
    )
    assert output == "Sunny, 21 C"
    trace = Trace.from_smolagents(agent, task_id="w-1")
    assert trace.query == "What is the weather in Paris?" and trace.task_id == "w-1"
    assert trace.final_answer == "Sunny, 21 C"
    t1, t2, t3, t4, t5 = trace.turns
    assert t1.text == "I will check." and t1.format == "bare"
    assert t1.call_outcomes() == [False] and "unknown city Atlantis" in t1.results[0].content
    assert t2.format == "fenced" and t2.call_outcomes() == [True]
    assert t2.results[0].content == "Sunny, 21 C in Paris" and t2.results[0].call_id == t2.calls[0].id
    assert t3.calls == [] and "JSON blob" in t3.errors[0]
    assert t4.calls[0].name == "get_time" and t4.call_outcomes() == [False]
    assert t5.calls == []  # the final_answer call is the answer, not a tool call
    assert trace.totals() == {
        "turns": 5,
        "tool_calls": 3,
        "invalid_calls": 1,
        "errors": 2,
        "unexecuted_calls": 0,
        "prompt_tokens": 600,
        "completion_tokens": 75,
    }
    # Same trace from the memory object, and it survives JSON.
    assert Trace.from_smolagents(agent.memory, task_id="w-1") == trace
    assert Trace.from_dict(json.loads(json.dumps(trace.to_dict()))) == trace


def test_from_smolagents_max_steps_and_bad_input():
    # The scripted model keeps calling; smolagents then asks it for a final answer without tools.
    agent, output = _scripted_agent(['{"name": "get_weather", "arguments": {"city": "Paris"}}'] * 2 + ["Sunny."], 2)
    assert output == "Sunny."
    trace = Trace.from_smolagents(agent)
    assert trace.final_answer == "Sunny."
    assert len(trace.turns) == 2 and trace.metadata["agent_errors"] == ["Reached max steps."]
    with pytest.raises(TypeError, match="expected a smolagents agent or AgentMemory"):
        Trace.from_smolagents(object())


def test_stray_closing_tags_are_reported():
    missing_opener = parse_tool_calls('{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>')
    assert missing_opener.calls == [ToolCall("get_weather", {"city": "Paris"})] and missing_opener.format == "bare"
    assert missing_opener.errors == ["</tool_call> without an opening <tool_call>"]
    # What the tiny model wrote after a tool result in a real TRL rollout.
    junk = parse_tool_calls('{"namecitycitycity":get "Paris"}}\n</tool_call>')
    assert junk.calls == [] and junk.format == "tagged" and len(junk.errors) == 1
    assert junk.content == '{"namecitycitycity":get "Paris"}}'
    mixed = parse_tool_calls('<tool_call>{"name": "a", "arguments": {}}</tool_call></tool_call>')
    assert _names(mixed) == ["a"] and mixed.errors == ["</tool_call> without an opening <tool_call>"]


def test_extract_json_reads_replies_the_way_models_write_them():
    # One reader for every place that asks a model for JSON (generator proposals, simulated results, judge scores).
    assert extract_json('```json\n{"a": 1}\n```') == {"a": 1}
    assert extract_json("<think>maybe {\"a\": 0}</think>\nSure: [1, 2] as asked.") == [1, 2]
    assert extract_json("42") == 42 and extract_json('"ok"') == "ok"  # a bare scalar only as the whole reply
    # A fence holds the answer even when the prose before it shows a JSON example.
    assert extract_json('Format: {"query": "<q>"}.\n```json\n{"query": "real"}\n```', kind=dict) == {"query": "real"}
    assert extract_json('[{"a": 1}] then {"b": 2}', kind=dict) == {"a": 1}
    assert extract_json('{"a": [1]} and [2]', kind=list) == [1]
    with pytest.raises(ValueError, match="no JSON object"):
        extract_json("[1, 2] is all", kind=dict)
    with pytest.raises(ValueError, match="no JSON value"):
        extract_json("Room booked.")
    # Strict (the judge): only the JSON, alone or alone in one fence, after a think block.
    assert extract_json('<think>x</think>\n```\n{"s": 1}\n```', strict=True) == {"s": 1}
    with pytest.raises(ValueError, match=r"not valid JSON \(Expecting value at line 1 column 1\); it starts with 'H"):
        extract_json('Here: {"s": 1}', strict=True)
    with pytest.raises(ValueError, match="must be a JSON object, got list"):
        extract_json("[1]", kind=dict, strict=True)
    with pytest.raises(ValueError, match="empty"):
        extract_json("<think>only thoughts</think>", strict=True)


@pytest.mark.default_model
def test_default_model_reply_parses_as_a_bare_call(default_model_dir):
    # The real default model, greedy: it answers a tool question with bare JSON (FACTS.md), which must parse.
    from toolbrain_hub.models import load_model

    model, tokenizer = load_model(str(default_model_dir), device="cpu")
    inputs = tokenizer.apply_chat_template(
        [{"role": "user", "content": "What is 17 plus 25?"}],
        tools=[get_weather, add],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    out = model.generate(**inputs, max_new_tokens=32, do_sample=False)
    text = tokenizer.decode(out[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)
    reply = parse_tool_calls(text)
    assert reply.errors == [], text
    assert reply.calls == [ToolCall("add", {"a": 17, "b": 25})], text
    assert reply.format in ("bare", "fenced", "tagged"), text


def add(a: int, b: int) -> int:
    """Add two integers.

    Args:
        a: the first integer
        b: the second integer
    """
    return a + b

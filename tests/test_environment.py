"""The tool environment: Python, MCP (stdio and HTTP) and schema-only backends, errors, routing, TRL runs."""

from __future__ import annotations

import inspect
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from toolbrain_hub.environment import (
    ToolEnvironmentError,
    environment_class,
    episode_overhead,
    make_environment_factory,
    make_routed_environments,
    row_query,
)
from toolbrain_hub.models.chat import ChatModel, ChatReply, LocalChatModel
from toolbrain_hub.tools import load_tools

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
SERVER = str(Path(__file__).with_name("mcp_server_example.py"))


def get_weather(city: str, unit: str = "celsius") -> dict:
    """Current weather for a city.

    Args:
        city: City name, e.g. Paris.
        unit: Temperature unit (choices: ["celsius", "fahrenheit"])
    """
    if city == "Atlantis":
        raise LookupError("no weather station in Atlantis")
    return {"city": city, "forecast": "sunny", "unit": unit}


def convert(amount: float, currency: str) -> str:
    """Convert an amount of euros to another currency.

    Args:
        amount: Amount in euros.
        currency: Target currency code.
    """
    return f"{amount * 1.1:.2f} {currency}\n"


SCHEMAS = [
    {"type": "function", "function": {
        "name": "search_flights", "description": "Search flights between two airports.",
        "parameters": {"type": "object", "properties": {
            "origin": {"type": "string", "description": "IATA code", "pattern": "^[A-Z]{3}$"},
            "destination": {"type": "string", "description": "IATA code", "pattern": "^[A-Z]{3}$"},
            "passengers": {"type": "integer", "minimum": 1, "maximum": 9, "description": "Travellers"}},
            "required": ["origin", "destination"]}}},
    {"type": "function", "function": {
        "name": "book_hotel", "description": "Book a hotel room in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string", "description": "City"},
                                                        "nights": {"type": "integer", "description": "Nights"}},
                       "required": ["city", "nights"]}}},
]


def _factory():
    return make_environment_factory(implementations={"get_weather": get_weather, "convert": convert})


# ------------------------------------------------------------------------------------------------ Python backend


def test_python_tools_success_exception_invalid_unknown():
    env = _factory()()
    assert env.reset(prompt=[{"role": "user", "content": "Weather in Paris?"}]) is None
    assert json.loads(env.get_weather(city="Paris")) == {"city": "Paris", "forecast": "sunny", "unit": "celsius"}
    assert env.convert(amount=10, currency="USD") == "11.00 USD"  # stripped, as smolagents strips observations
    assert json.loads(env.get_weather(city="Atlantis")) == {"error": "LookupError: no weather station in Atlantis"}
    invalid = json.loads(env.get_weather(town="Paris"))["error"]
    assert invalid.startswith("invalid arguments for get_weather") and "'city' is a required property" in invalid
    assert "is not of type 'string'" in json.loads(env.get_weather(city=3))["error"]
    assert "is not one of" in json.loads(env.get_weather(city="Paris", unit="kelvin"))["error"]
    assert env("teleport", {"to": "Mars"}) == "{'error': 'Tool teleport not found.'}"  # TRL's own wording
    assert json.loads(env("get_weather", '{"city": "Rome"}'))["city"] == "Rome"  # arguments as a JSON string
    assert "not valid JSON" in json.loads(env("get_weather", "{city: Rome"))["error"]

    calls = env.calls
    assert [c.name for c in calls] == ["get_weather", "convert", "get_weather", "get_weather", "get_weather",
                                       "get_weather", "teleport", "get_weather", "get_weather"]
    assert [c.ok for c in calls] == [True, True, False, False, False, False, False, True, False]
    assert calls[0].source == "python" and calls[0].arguments == {"city": "Paris"}
    assert calls[2].error == "LookupError: no weather station in Atlantis" and calls[2].source == ""
    assert all(c.latency_s > 0 for c in calls)
    assert calls[2].to_dict()["result"] == calls[2].result
    round_trip = type(calls[0]).from_dict(json.loads(json.dumps(calls[0].to_dict())))
    assert round_trip == calls[0]
    env.reset(query="next task")
    assert env.calls == [] and env.query == "next task"


def test_tool_methods_are_what_trl_renders(tiny_model_dir):
    from transformers import AutoTokenizer

    from toolbrain_hub.tools import install_tool_schemas

    factory = _factory()
    env = factory()
    public = [name for name, _ in inspect.getmembers(type(env), predicate=inspect.isfunction)
              if not name.startswith("_")]
    assert public == ["convert", "get_weather", "reset"]  # what TRL lists: tools + reset, nothing else
    assert factory.tool_schemas == [spec.to_openai() for spec in factory.tool_specs]  # whole, sorted by name
    weather = factory.tool_schemas[1]["function"]
    assert weather["name"] == "get_weather" and weather["description"] == "Current weather for a city."
    assert weather["parameters"]["required"] == ["city"]
    assert weather["parameters"]["properties"]["unit"]["enum"] == ["celsius", "fahrenheit"]
    assert "self" not in str(inspect.signature(env.get_weather))

    # TRL renders the bound methods; a prepared tokenizer renders them as the schemas, and nothing else changes
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    messages = [{"role": "user", "content": "Weather in Paris?"}]
    methods = [env.convert, env.get_weather]
    reduced = tokenizer.apply_chat_template(messages, tools=methods, tokenize=False)  # transformers' get_json_schema
    assert install_tool_schemas(install_tool_schemas(tokenizer)) is tokenizer  # idempotent
    full = tokenizer.apply_chat_template(messages, tools=factory.tool_schemas, tokenize=False)
    assert tokenizer.apply_chat_template(conversation=messages, tools=methods, tokenize=False) == full != reduced
    assert '"nullable": true' in reduced  # what type hints made of the optional "unit"; not in the schema


def test_setup_errors_are_specific():
    with pytest.raises(ToolEnvironmentError, match=r"no implementation for tools \['convert'\]"):
        make_environment_factory([get_weather, convert], implementations={"get_weather": get_weather})
    with pytest.raises(ToolEnvironmentError, match=r"unknown tools \['nope'\]"):
        make_environment_factory([get_weather], implementations={"get_weather": get_weather, "nope": convert})
    with pytest.raises(ToolEnvironmentError, match="not both"):
        make_environment_factory([get_weather], implementations={"get_weather": get_weather}, mcp=["x"])
    with pytest.raises(ToolEnvironmentError, match="schema-only mode needs tools"):
        make_environment_factory()
    reserved = {"name": "reset", "description": "Reset something.", "parameters": {"type": "object"}}
    with pytest.raises(ToolEnvironmentError, match="'reset' cannot be an environment method"):
        make_environment_factory([reserved])
    env = _factory()()
    with pytest.raises(ToolEnvironmentError, match=r"does not list \['convert'\]"):
        env.reset(query="q", tools=json.dumps([{"type": "function", "function": {"name": "get_weather"}}]))


# ---------------------------------------------------------------------------------------------------- schema-only


def test_schema_only_validates_records_and_echoes():
    factory = make_environment_factory(SCHEMAS)
    env = factory()
    env.reset(query="Fly me from Paris to Rome", tools=json.dumps(SCHEMAS))
    ok = json.loads(env.search_flights(origin="CDG", destination="FCO", passengers=2))
    assert ok == {"status": "ok", "tool": "search_flights",
                  "arguments": {"origin": "CDG", "destination": "FCO", "passengers": 2}}
    # Constraints not expressible in the prompt (pattern, maximum) are still enforced.
    assert "does not match" in json.loads(env.search_flights(origin="Paris", destination="FCO"))["error"]
    assert "greater than the maximum" in json.loads(env.search_flights(origin="CDG", destination="FCO",
                                                                      passengers=12))["error"]
    assert [(c.name, c.ok, c.source) for c in env.calls] == [
        ("search_flights", True, "echo"), ("search_flights", False, ""), ("search_flights", False, "")]


def test_schema_only_answers_from_recorded_results():
    env = make_environment_factory(SCHEMAS)()
    recorded = [
        {"name": "search_flights", "arguments": {"origin": "CDG", "destination": "FCO"}, "result": {"flights": 3}},
        {"name": "book_hotel", "result": "Booked: confirmation H-42"},
    ]
    env.reset(query="q", tool_results=json.dumps(recorded))
    assert json.loads(env.search_flights(origin="CDG", destination="FCO")) == {"flights": 3}
    assert env.book_hotel(city="Rome", nights=2) == "Booked: confirmation H-42"  # no "arguments": any call
    assert json.loads(env.search_flights(origin="CDG", destination="LHR"))["status"] == "ok"  # no match: echo
    assert [c.source for c in env.calls] == ["recorded", "recorded", "echo"]
    env.reset(query="q", tool_results={"book_hotel": {"id": 7}})  # the {name: result} form, already parsed
    assert json.loads(env.book_hotel(city="Oslo", nights=1)) == {"id": 7}
    with pytest.raises(ToolEnvironmentError, match="column 'tool_results' is not valid JSON"):
        env.reset(query="q", tool_results="[{")
    with pytest.raises(ToolEnvironmentError, match="entry 0 needs 'name' and 'result'"):
        env.reset(query="q", tool_results=[{"name": "book_hotel"}])


class ScriptedSimulator(ChatModel):
    """A ChatModel whose replies are given in advance (records what it was asked)."""

    model_id = "scripted"

    def __init__(self, replies):
        self.replies = list(replies)
        self.prompts = []

    def chat(self, messages, **kwargs):
        self.prompts.append(messages)
        return ChatReply(text=self.replies.pop(0))


def test_simulator_results_are_parsed_cached_and_checked():
    simulator = ScriptedSimulator(['```json\n{"flights": [{"id": "AF123", "price": 99}]}\n```',
                                   "Room booked.", "   "])
    factory = make_environment_factory(SCHEMAS, simulator=simulator)
    env = factory()
    env.reset(query="Cheapest flight CDG to FCO?")
    first = env.search_flights(origin="CDG", destination="FCO")
    assert json.loads(first) == {"flights": [{"id": "AF123", "price": 99}]}
    asked = simulator.prompts[0][1]["content"]
    assert "search_flights" in asked and "Cheapest flight CDG to FCO?" in asked and '"origin": "CDG"' in asked
    # Same task, tool and arguments in another rollout of the group: cached, the simulator is not asked again.
    other = factory()
    other.reset(query="Cheapest flight CDG to FCO?")
    assert other.search_flights(origin="CDG", destination="FCO") == first and len(simulator.prompts) == 1
    assert other.calls[0].source == "simulated"
    assert env.book_hotel(city="Rome", nights=1) == "Room booked."  # not JSON: the text is the result
    assert "empty reply" in json.loads(env.book_hotel(city="Oslo", nights=1))["error"]
    assert [c.source for c in env.calls] == ["simulated", "simulated", ""]
    # Invalid arguments never reach the simulator.
    env.book_hotel(city="Oslo")
    assert len(simulator.prompts) == 3 and not env.calls[-1].ok


def test_simulator_with_a_real_local_model(tiny_model):
    simulator = LocalChatModel(loaded=tiny_model)
    env = make_environment_factory(SCHEMAS, simulator=simulator)()
    env.reset(query="Book a hotel in Rome for two nights")
    text = env.book_hotel(city="Rome", nights=2)
    record = env.calls[0]
    # The random tiny model writes noise or nothing: either way the call is recorded and the rollout goes on.
    assert record.result == text and record.latency_s > 0
    assert (record.source == "simulated" and text) or "simulator returned an empty reply" in record.error


# ------------------------------------------------------------------------------------------------------------- MCP


def test_mcp_over_stdio_lists_and_calls_tools():
    factory = make_environment_factory(mcp=[sys.executable, SERVER])
    try:
        assert factory.tool_names == ("add", "broken", "get_weather")
        weather = next(s for s in factory.tool_specs if s.name == "get_weather")
        assert weather.required == ["city"] and weather.properties["city"]["type"] == "string"
        env = factory()
        env.reset(query="What is 2 + 3, and the weather in Paris?")
        assert env.add(a=2, b=3) == "5"
        assert env.get_weather(city="Paris") == "Paris: sunny, 21 C"
        assert "unknown city: Gotham" in json.loads(env.get_weather(city="Gotham"))["error"]
        assert "backend unavailable (test)" in json.loads(env.broken(reason="test"))["error"]
        assert "is not of type 'integer'" in json.loads(env.add(a="two", b=3))["error"]  # checked before sending
        assert [(c.name, c.ok, c.source) for c in env.calls] == [
            ("add", True, "mcp"), ("get_weather", True, "mcp"), ("get_weather", False, ""), ("broken", False, ""),
            ("add", False, "")]
        # A second environment of the same factory shares the connection.
        other = factory()
        other.reset(query="x")
        assert other.add(a=1, b=1) == "2" and len(env.calls) == 5
        subset = make_environment_factory([s for s in factory.tool_specs if s.name == "add"], mcp=factory.backend)
        assert subset.tool_names == ("add",)
        with pytest.raises(ToolEnvironmentError, match=r"has no tools \['book_hotel'\]"):
            make_environment_factory(SCHEMAS[1:], mcp=factory.backend)
    finally:
        factory.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_mcp_over_streamable_http():
    port = _free_port()
    server = subprocess.Popen([sys.executable, SERVER, "--http", str(port)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                time.sleep(0.1)
        factory = make_environment_factory(mcp=f"http://127.0.0.1:{port}/mcp?token=secret")
        try:
            assert "secret" not in factory.backend.description
            env = factory()
            env.reset(query="add")
            assert env.add(a=40, b=2) == "42"
            assert "backend unavailable" in json.loads(env.broken(reason="x"))["error"]
        finally:
            factory.close()
    finally:
        server.terminate()
        server.wait(10)


def test_mcp_connection_failure_is_clear():
    with pytest.raises(ToolEnvironmentError, match="cannot connect to the MCP server"):
        make_environment_factory(mcp=[sys.executable, "-c", "import sys; sys.exit(3)"])


# ------------------------------------------------------------------------------------------------------- retrieval


def _retrieval_tools():
    def tool(name, description):
        return {"name": name, "description": description,
                "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": "Query"}},
                               "required": ["q"]}}

    return load_tools([
        tool("get_weather", "Current weather and temperature forecast for a city"),
        tool("search_emails", "Search the user's email inbox by keywords, sender or date"),
        tool("convert_currency", "Convert an amount of money between currencies at today's exchange rate"),
        tool("translate_text", "Translate a text into another language"),
        tool("book_restaurant", "Reserve a table at a restaurant for a number of people"),
        tool("stock_price", "Latest share price of a company on the stock market"),
    ])


def test_routed_environments_expose_top_k_tools_per_row():
    tools = _retrieval_tools()
    rows = [{"query": "Will it rain in Oslo tomorrow?"},
            {"query": "How many dollars is 50 euros?"},
            {"prompt": [{"role": "user", "content": "Find the email Bob sent me about the invoice"}]}]
    routed, factories = make_routed_environments(rows, tools, top_k=2)
    assert len(routed) == 3 and all("environment" in row for row in routed)
    exposed = [factories[row["environment"]].tool_names for row in routed]
    assert all(len(names) == 2 for names in exposed)
    assert all(len(f.tool_pool) == 6 for f in factories.values())  # what an agent spec keeps for retrieval
    assert "get_weather" in exposed[0] and "convert_currency" in exposed[1] and "search_emails" in exposed[2]
    env = factories[routed[2]["environment"]]()
    env.reset(**{k: v for k, v in routed[2].items() if k != "environment"})
    assert json.loads(env.search_emails(q="invoice"))["status"] == "ok"
    assert env("stock_price", {"q": "ACME"}) == "{'error': 'Tool stock_price not found.'}"
    assert row_query(rows[2]) == "Find the email Bob sent me about the invoice"

    from datasets import Dataset

    dataset, factories2 = make_routed_environments(Dataset.from_list(rows[:2]), tools, top_k=2)
    assert dataset.column_names == ["query", "environment"] and set(factories2) <= set(factories)


def test_routed_environments_per_row_tool_sets():
    rows = [{"query": "flight", "tools": json.dumps(SCHEMAS[:1])},
            {"query": "hotel", "tools": json.dumps(SCHEMAS[1:])},
            {"query": "both", "tools": json.dumps(SCHEMAS)}]
    routed, factories = make_routed_environments(rows)
    assert [factories[r["environment"]].tool_names for r in routed] == [
        ("search_flights",), ("book_hotel",), ("book_hotel", "search_flights")]
    env = factories[routed[1]["environment"]]()
    env.reset(**{k: v for k, v in routed[1].items() if k != "environment"})  # its row lists its tools: accepted
    with pytest.raises(ToolEnvironmentError, match="already has an 'environment' column"):
        make_routed_environments(routed)
    # tools= only serves rows that list none: a row's own tools win, even ones tools= does not have
    routed, factories = make_routed_environments([*rows, {"query": "no list"}], SCHEMAS[:1])
    assert [factories[r["environment"]].tool_names for r in routed] == [
        ("search_flights",), ("book_hotel",), ("book_hotel", "search_flights"), ("search_flights",)]
    with pytest.raises(ToolEnvironmentError, match=r"row 1 lists no tools \(no 'tools' column\)"):
        make_routed_environments([rows[0], {"query": "no list"}])


def _weather_tool(description: str, unit: dict) -> dict:
    return {"type": "function", "function": {
        "name": "get_weather", "description": description,
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "unit": unit},
                       "required": ["city"]}}}


# Two public datasets' idea of the same tool: one name, two schemas.
CELSIUS = _weather_tool("Weather in Celsius.", {"type": "string", "enum": ["C"]})
KELVIN = _weather_tool("Weather in Kelvin, with the wind.", {"type": "integer", "minimum": 0})


def test_rows_define_the_same_tool_name_differently():
    rows = [{"query": "Paris in C", "tools": json.dumps([CELSIUS])},
            {"query": "Oslo in K", "tools": json.dumps([KELVIN, SCHEMAS[1]])},
            {"query": "Rome in C", "tools": [CELSIUS]}]  # a parsed list is the same tool set as its JSON text
    routed, factories = make_routed_environments(rows)
    keys = [r["environment"] for r in routed]
    assert keys[0] == keys[2] != keys[1] and len(factories) == 2
    assert keys[0].startswith("get_weather#") and keys[1].startswith("book_hotel,get_weather#")
    first, second = (factories[k] for k in keys[:2])
    # each row's prompt shows its own definition...
    assert first.tool_schemas[0]["function"]["description"] == "Weather in Celsius."
    assert second.tool_schemas[1]["function"]["description"] == "Weather in Kelvin, with the wind."
    # ...and its calls are validated against it
    env = first()
    env.reset(**{k: v for k, v in routed[0].items() if k != "environment"})
    assert json.loads(env("get_weather", {"city": "Paris", "unit": "C"}))["status"] == "ok"
    assert "invalid arguments" in env("get_weather", {"city": "Paris", "unit": 300})
    env = second()
    env.reset(**{k: v for k, v in routed[1].items() if k != "environment"})
    assert json.loads(env("get_weather", {"city": "Oslo", "unit": 300}))["status"] == "ok"
    assert "invalid arguments" in env("get_weather", {"city": "Oslo", "unit": "C"})
    assert first.backend is second.backend and first.backend.label == "schema-only"


def test_implementations_run_the_rows_they_cover_and_the_others_are_schema_only():
    weather = {"type": "function", "function": {
        "name": "get_weather", "description": "Current weather for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    rows = [{"query": "mine", "tools": json.dumps([weather])},
            {"query": "imported", "tools": json.dumps(SCHEMAS)}]
    routed, factories = make_routed_environments(rows, implementations={"get_weather": get_weather})
    mine, imported = (factories[r["environment"]] for r in routed)
    assert mine.backend.label == "implementations" and imported.backend.label == "schema-only"
    env = mine()
    env.reset(**{k: v for k, v in routed[0].items() if k != "environment"})
    assert json.loads(env("get_weather", {"city": "Oslo"}))["forecast"] == "sunny" and env.calls[0].source == "python"
    env = imported()
    env.reset(**{k: v for k, v in routed[1].items() if k != "environment"})
    env("search_flights", {"origin": "OSL", "destination": "CDG"})
    assert env.calls[0].source == "echo"
    # a row whose tools are implemented only in part cannot say where its calls run
    both = [{"query": "mixed", "tools": json.dumps([weather, *SCHEMAS])}]
    with pytest.raises(ToolEnvironmentError, match=r"row 0 uses the tools \['book_hotel', 'get_weather', "
                                                   r"'search_flights'\], but there is no implementation for "
                                                   r"\['book_hotel', 'search_flights'\]"):
        make_routed_environments(both, implementations={"get_weather": get_weather})
    with pytest.raises(ToolEnvironmentError, match=r"implementations given for unknown tools \['convert'\]"):
        make_routed_environments(rows, implementations={"get_weather": get_weather, "convert": convert})
    # with tools= (your definitions), an imported tool of the same name but another schema is not run on your code
    foreign = [*rows, {"query": "imported weather", "tools": json.dumps([KELVIN])}]
    routed, factories = make_routed_environments(foreign, [weather], implementations={"get_weather": get_weather})
    assert [factories[r["environment"]].backend.label for r in routed] == [
        "implementations", "schema-only", "schema-only"]
    routed, factories = make_routed_environments(foreign, implementations={"get_weather": get_weather})
    assert factories[routed[2]["environment"]].backend.label == "implementations"  # by name alone, without tools=


def test_tool_names_that_cannot_be_methods_name_the_row():
    reserved = {"name": "reset", "description": "Reset something.", "parameters": {"type": "object"}}
    with pytest.raises(ToolEnvironmentError, match="^row 1: tool 'reset' cannot be an environment method"):
        make_routed_environments([{"query": "a", "tools": json.dumps(SCHEMAS)},
                                  {"query": "b", "tools": json.dumps([reserved])}])


def test_episode_overhead_is_microseconds():
    stats = episode_overhead(_factory(), {"query": "Weather in Paris?", "prompt": []},
                             [("get_weather", {"city": "Paris"}), ("convert", {"amount": 3, "currency": "USD"}),
                              ("get_weather", {"town": "x"})], repeats=100)
    print("environment overhead per episode (reset + 3 calls):", stats)
    assert stats["episodes"] == 100 and stats["calls_per_episode"] == 3
    # Generation of one turn takes ~0.1 s even for the tiny model; the environment must be orders below it.
    assert 0 < stats["median_us"] < 5_000


# ------------------------------------------------------------------------------------------------------------- TRL


def _grpo_args(tmp_path, **kwargs):
    from trl import GRPOConfig

    kwargs = {"per_device_train_batch_size": 2, **kwargs}
    return GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, num_generations=2, max_steps=1,
                      report_to=[], save_strategy="no", logging_steps=1, **kwargs)


def test_grpo_one_step_with_environment_factory(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOTrainer

    def reward(env):
        return float(sum(call.ok for call in env.calls))

    factory = make_environment_factory(implementations={"get_weather": get_weather, "convert": convert},
                                       reward=reward)
    seen = []

    def length_reward(completions, environments, **kwargs):
        seen.extend(environments)
        return [0.0 for _ in completions]

    rows = [{"prompt": [{"role": "user", "content": "Weather in Paris?"}], "query": "Weather in Paris?"}] * 2
    trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[length_reward],
                          args=_grpo_args(tmp_path, max_completion_length=16, max_tool_calling_iterations=1),
                          train_dataset=Dataset.from_list(rows), environment_factory=factory)
    trainer.train()
    assert trainer.state.global_step == 1
    assert len(seen) == 2 and all(env.query == "Weather in Paris?" for env in seen)
    logged = trainer.state.log_history[0]
    assert "rewards/ToolEnvironment/mean" in logged and "tools/call_frequency" in logged


def test_grpo_routed_prompts_show_only_the_rows_tools(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOTrainer

    from toolbrain_hub.tools import ToolSpec, install_tool_schemas

    rows = [{"prompt": [{"role": "user", "content": "Will it rain in Oslo?"}], "query": "Will it rain in Oslo?"}] * 2
    # a rule type hints cannot carry, so the prompt shows whether each row's tools are rendered whole
    tools = [ToolSpec(t.name, t.description, {**t.parameters, "properties": {"q": {"type": "string", "minLength": 2}}})
             for t in _retrieval_tools()]
    dataset, factories = make_routed_environments(Dataset.from_list(rows), tools, top_k=1)
    tokenizer = install_tool_schemas(AutoTokenizer.from_pretrained(tiny_model_dir))
    trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                          args=_grpo_args(tmp_path, max_completion_length=8), train_dataset=dataset,
                          environment_factory=factories, processing_class=tokenizer)
    rendered = _train_and_read_prompts(trainer)
    assert len(rendered) == 2
    assert all('"name": "get_weather"' in text and '"name": "stock_price"' not in text for text in rendered)
    (schema,) = factories[dataset[0]["environment"]].tool_schemas  # each row's own tools, whole
    assert all(json.dumps(schema, ensure_ascii=False) in text and '"minLength": 2' in text for text in rendered)


def test_grpo_renders_each_rows_own_definition_of_a_shared_tool_name(tiny_model_dir, tmp_path):
    from datasets import Dataset
    from trl import GRPOTrainer

    rows = [{"prompt": [{"role": "user", "content": q}], "query": q, "tools": json.dumps([tool])}
            for q, tool in (("Paris in C?", CELSIUS), ("Oslo in K?", KELVIN))]
    dataset, factories = make_routed_environments(Dataset.from_list(rows))
    trainer = GRPOTrainer(model=str(tiny_model_dir), reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                          args=_grpo_args(tmp_path, max_completion_length=8, per_device_train_batch_size=4),
                          train_dataset=dataset, environment_factory=factories)
    rendered = _train_and_read_prompts(trainer)
    celsius = [text for text in rendered if "Paris in C?" in text]
    kelvin = [text for text in rendered if "Oslo in K?" in text]
    assert celsius and kelvin and len(celsius) + len(kelvin) == len(rendered)
    assert all("Weather in Celsius." in t and "Kelvin" not in t for t in celsius)
    assert all("Weather in Kelvin, with the wind." in t and "Celsius" not in t for t in kelvin)


def test_environment_class_checks_names():
    with pytest.raises(ToolEnvironmentError, match="must be Python identifiers"):
        environment_class([{"name": "get-weather", "description": "x", "parameters": {"type": "object"}}])


def test_arguments_python_cannot_name_are_tools_arguments_all_the_same(tiny_model_dir):
    # Real APIs name arguments "from", "class", "max-results": the method takes them as keywords from a dict, the
    # prompt shows the schema, and validation still knows every argument.
    from transformers import AutoTokenizer

    from toolbrain_hub.tools import install_tool_schemas

    schema = {"name": "search_emails", "description": "Search mail.",
              "parameters": {"type": "object", "required": ["from"],
                             "properties": {"from": {"type": "string"}, "max-results": {"type": "integer"},
                                            "class": {"type": "string", "enum": ["inbox", "sent"]}}}}
    cls = environment_class([schema])
    env = cls()
    assert env.search_emails(**{"from": "ann@example.com", "class": "inbox"}).startswith('{"status": "ok"')
    assert "'from' is a required property" in env.search_emails(**{"max-results": 3})
    assert [call.ok for call in env.calls] == [True, False]
    tokenizer = install_tool_schemas(AutoTokenizer.from_pretrained(tiny_model_dir))
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "Mail from Ann?"}], tools=[env.search_emails],
                                           tokenize=False)
    assert '"max-results"' in prompt and '"class"' in prompt and '"required": ["from"]' in prompt


def _train_and_read_prompts(trainer) -> list[str]:
    """Train, and return every prompt as the trainer tokenized it (decoded)."""
    rendered = []
    tokenize = trainer._tokenize_prompts

    def capture(prompts):
        out = tokenize(prompts)
        rendered.extend(trainer.processing_class.decode(ids) for ids in out[0])
        return out

    trainer._tokenize_prompts = capture
    trainer.train()
    return rendered

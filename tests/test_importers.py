"""Importing public function-calling datasets (xLAM, Glaive, ToolACE layouts) as task sets with per-row tools, and
mixing them with generated tasks. The fixtures in tests/data/imports are small files written in each layout, with
malformed rows that must be counted, never dropped silently."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from toolbrain_hub.tasks import TaskError, generate_tasks, load_tasks
from toolbrain_hub.tasks.importers import ImportProblem, convert_row, import_tasks
from toolbrain_hub.tasks.taskset import concat_tasks, load_task_tools, load_taskset, save_tasks
from toolbrain_hub.tools import load_tools

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
XLAM = DATA / "imports" / "xlam.json"
GLAIVE = DATA / "imports" / "glaive.jsonl"
TOOLACE = DATA / "imports" / "toolace.json"


def _rows(taskset) -> dict[str, dict]:
    """Rows by query, with their tools and calls parsed."""
    out = {}
    for split in taskset.dataset.values():
        for row in split:
            out[row["query"]] = {**row, "tools": json.loads(row["tools"]),
                                 "expected_calls": json.loads(row["expected_calls"])}
    return out


def _tool(row: dict, name: str) -> dict:
    return next(t["function"] for t in row["tools"] if t["function"]["name"] == name)


def _assert_calls_validate(taskset) -> None:
    """Every kept task's calls validate against that task's own tools."""
    for row in _rows(taskset).values():
        specs = {s.name: s for s in load_tools(row["tools"])}
        for call in row["expected_calls"]:
            assert specs[call["name"]].validate_arguments(call["arguments"]) == [], (row["query"], call)


# ----------------------------------------------------------------------------------------------------------- xLAM


def test_xlam_rows_become_tasks_with_their_own_tools():
    taskset = import_tasks(XLAM, "xlam", test_size=0)
    report = taskset.report
    assert (report.attempts, report.kept, report.generator) == (9, 4, "import:xlam")
    # every malformed row is counted by reason, and the first reasons say where
    assert report.rejected == {"invalid_json": 1, "unknown_tool": 1, "invalid_call": 1, "unsupported_type": 1,
                               "missing_query": 1}
    assert report.examples[0].startswith("xlam.json, row 4: invalid_json: column 'tools' is not valid JSON")
    assert "row 6: invalid_call: math.factorial: n: 'ten' is not of type 'integer'" in report.examples[2]
    rows = _rows(taskset)
    assert {q: r["kind"] for q, r in rows.items()} == {
        "What's the weather like in Porto right now?": "single",
        "Get me quotes for AAPL and for MSFT on NASDAQ.": "parallel",
        "Who painted the ceiling of the Sistine Chapel?": "no_tool",
        "What is 7 factorial, and the mean of 2.5, 3 and 4 to one place?": "parallel"}
    assert all(r["generator"] == "import:xlam" and r["gold_answer"] == "" for r in rows.values())
    # each task offers exactly its row's tools
    sistine = rows["Who painted the ceiling of the Sistine Chapel?"]
    assert [t["function"]["name"] for t in sistine["tools"]] == ["get_weather"] and sistine["expected_calls"] == []
    # Python type names become JSON Schema; ", optional" and defaults make an argument optional
    weather = _tool(rows["What's the weather like in Porto right now?"], "get_weather")["parameters"]
    assert weather["properties"]["city"] == {"type": "string", "description": "City name, e.g. Lisbon.",
                                             "default": "Lisbon"}
    assert "default" not in weather["properties"]["units"]  # xLAM's "" means "no default"
    assert "required" not in weather
    math_row = rows["What is 7 factorial, and the mean of 2.5, 3 and 4 to one place?"]
    mean = _tool(math_row, "mean_of")["parameters"]
    assert mean["properties"]["numbers"]["type"] == "array" and mean["properties"]["numbers"]["items"] == {
        "type": "number"}
    assert mean["properties"]["options"]["type"] == "object" and mean["properties"]["places"]["default"] == 2
    assert mean["required"] == ["numbers"]
    # a name that cannot be a tool name is rewritten in the tools and the calls alike
    assert math_row["expected_calls"][0] == {"name": "math_factorial", "arguments": {"n": 7}}
    assert report.settings["renamed_examples"] == {"math.factorial": "math_factorial"}
    _assert_calls_validate(taskset)
    assert report.coverage["kind"]["parallel"] == 2 and report.coverage["kind"]["no_tool"] == 1


def _xlam_row(type_name: str, value, **extra) -> dict:
    return {"query": "q", "tools": [{"name": "f", "description": "d", "parameters": {
        "x": {"description": "x", "type": type_name, **extra}}}], "answers": [{"name": "f", "arguments": {"x": value}}]}


@pytest.mark.parametrize("type_name, value, schema, required", [
    ("int", 3, {"type": "integer"}, True),
    ("float, optional", 2, {"type": "number"}, False),
    ("Optional[str]", "a", {"type": "string"}, False),
    ("List[List[int]]", [[1]], {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}}, True),
    ("Union[int, str]", "7", {"type": ["integer", "string"]}, True),
    ("Tuple[int, int]", [1, 2], {"type": "array"}, True),
    ("typing.Dict[str, Any]", {"k": 1}, {"type": "object"}, True),
    ("Literal['a', 'b']", "b", {"enum": ["a", "b"]}, True),
    ("Any", None, {}, True),
    ("int | None", 4, {"type": "integer"}, False),
])
def test_xlam_python_types(type_name, value, schema, required):
    task = convert_row(_xlam_row(type_name, value), "xlam")
    parameters = task["tools"][0].parameters
    assert {k: v for k, v in parameters["properties"]["x"].items() if k != "description"} == schema
    assert ("x" in parameters.get("required", [])) == required


def test_xlam_defaults_are_kept_only_when_valid():
    task = convert_row(_xlam_row("int", 3, default="ten"), "xlam")
    assert "default" not in task["tools"][0].parameters["properties"]["x"]
    assert task["tools"][0].required == []  # a default still marks the argument optional
    with pytest.raises(ImportProblem, match="unsupported_type: type 'Callable\\[\\[int\\], int\\]'"):
        convert_row(_xlam_row("Callable[[int], int]", 1), "xlam")


# --------------------------------------------------------------------------------------------------------- Glaive


def test_glaive_chats_become_tasks():
    taskset = import_tasks(GLAIVE, "glaive", test_size=0)
    report = taskset.report
    assert (report.attempts, report.kept) == (6, 4)
    assert report.rejected == {"no_tools": 1, "unreadable_call": 1}
    assert report.examples == [
        "glaive.jsonl, line 3: no_tools: the row offers no tools",
        "glaive.jsonl, line 6: unreadable_call: the arguments of 'get_weather' are not valid JSON (Expecting value)"]
    rows = _rows(taskset)
    bergen = rows["Will I need an umbrella in Bergen, Norway tomorrow?"]
    # the single-quoted arguments of Glaive's <functioncall> are read
    assert bergen["kind"] == "single" and bergen["expected_calls"] == [
        {"name": "get_weather", "arguments": {"location": "Bergen, Norway", "days": 1}}]
    # words first, then the call, before the user speaks again: still the answer to the request
    yen = rows["I'd like to know what 250 euros come to in Japanese yen."]
    assert yen["expected_calls"][0]["name"] == "convert_currency"
    assert sorted(t["function"]["name"] for t in yen["tools"]) == ["convert_currency", "get_exchange_rate"]
    # asking back before calling is the answer to that request: no call
    assert rows["Can you convert some money for me?"]["kind"] == "no_tool"
    both = rows["What's the dollar to euro rate, and what are my 80 dollars worth in euros?"]
    assert both["kind"] == "multi" and [c["name"] for c in both["expected_calls"]] == [
        "get_exchange_rate", "convert_currency"]
    _assert_calls_validate(taskset)


# -------------------------------------------------------------------------------------------------------- ToolACE


def test_toolace_conversations_become_tasks():
    taskset = import_tasks(TOOLACE, "toolace", test_size=0)
    report = taskset.report
    assert (report.attempts, report.kept) == (7, 4)
    assert report.rejected == {"unreadable_call": 2, "invalid_call": 1}
    assert "row 4: unreadable_call: Get Stock Quote: the value of 'symbol' is not a literal (AAPL)" in \
        report.examples[0]
    assert "row 5: unreadable_call: \"Get Stock Quote('INTC')\" is not a call with named arguments" in \
        report.examples[1]
    rows = _rows(taskset)
    nvidia = rows["How is Nvidia trading right now? Price to the cent please."]
    # names with spaces become tool names; BFCL types ("dict", "float") become JSON Schema
    assert nvidia["expected_calls"] == [{"name": "Get_Stock_Quote",
                                         "arguments": {"symbol": "NVDA", "precision": 0.01}}]
    quote = _tool(nvidia, "Get_Stock_Quote")["parameters"]
    assert quote["type"] == "object" and quote["properties"]["precision"]["type"] == "number"
    tesla = rows["Give me Tesla's quote and any Tesla news since May 1st 2024 from Reuters."]
    assert tesla["kind"] == "parallel" and tesla["expected_calls"][1] == {
        "name": "Market_News", "arguments": {"company": "Tesla",
                                             "filters": {"since": "2024-05-01", "sources": ["Reuters"]}}}
    news = _tool(tesla, "Market_News")["parameters"]["properties"]["filters"]
    assert news["type"] == "object" and news["properties"]["sources"] == {"type": "array", "items": {"type": "string"}}
    assert rows["What's a good name for a golden retriever?"]["kind"] == "no_tool"
    boeing = rows["Check the news on Boeing, then get its stock price."]  # two turns, then the user: stop there
    assert boeing["kind"] == "multi" and [c["name"] for c in boeing["expected_calls"]] == [
        "Market_News", "Get_Stock_Quote"]
    _assert_calls_validate(taskset)


# ------------------------------------------------------------------------------------------- recorded tool results

_GLAIVE_SYSTEM = ("SYSTEM: You are a helpful assistant with access to the following functions. Use them if required -\n"
                  + json.dumps({"name": "get_stock_price", "description": "Get the current stock price",
                                "parameters": {"type": "object", "properties": {
                                    "symbol": {"type": "string", "description": "The stock symbol, e.g. AAPL"}},
                                    "required": ["symbol"]}}, indent=4) + "\n\n"
                  + json.dumps({"name": "calculate_tip", "description": "Calculate the tip for a bill",
                                "parameters": {"type": "object", "properties": {
                                    "bill_amount": {"type": "number", "description": "The total bill"},
                                    "tip_percentage": {"type": "number", "description": "The tip in percent"}},
                                    "required": ["bill_amount", "tip_percentage"]}}, indent=4))


def _glaive_row(*turns: str) -> dict:
    return {"system": _GLAIVE_SYSTEM, "chat": "\n\n\n".join(turns) + "\n\n\n"}


def _glaive_call(name: str, arguments: dict) -> str:
    return f"ASSISTANT: <functioncall> {{\"name\": \"{name}\", \"arguments\": '{json.dumps(arguments)}'}} <|endoftext|>"


def test_glaive_function_responses_answer_the_call_before_them():
    row = _glaive_row("USER: Hi, can you tell me the current stock price of Apple?",
                      _glaive_call("get_stock_price", {"symbol": "AAPL"}),
                      'FUNCTION RESPONSE: {"stock_price": 150.75}',
                      "ASSISTANT: The current stock price of Apple (AAPL) is $150.75. <|endoftext|>",
                      "USER: What about Microsoft?",
                      _glaive_call("get_stock_price", {"symbol": "MSFT"}),
                      'FUNCTION RESPONSE: {"stock_price": 216.54}')
    task = convert_row(row, "glaive")
    # only the first request is the task: the later MSFT call and its response belong to another request
    assert task["results"] == [({"name": "get_stock_price", "arguments": {"symbol": "AAPL"}},
                                {"stock_price": 150.75})]
    # two calls of one tool over turns, each answered by the response right after it
    row = _glaive_row("USER: What do Apple and Microsoft trade at?",
                      _glaive_call("get_stock_price", {"symbol": "AAPL"}),
                      'FUNCTION RESPONSE: {"stock_price": 150.75}',
                      _glaive_call("get_stock_price", {"symbol": "MSFT"}),
                      'FUNCTION RESPONSE: {"stock_price": 216.54}',
                      "ASSISTANT: Apple trades at $150.75 and Microsoft at $216.54. <|endoftext|>")
    task = convert_row(row, "glaive")
    assert task["kind"] == "multi" and [r for _, r in task["results"]] == [{"stock_price": 150.75},
                                                                           {"stock_price": 216.54}]
    # a response that is not JSON (Glaive has Python-style dicts and plain text) is kept as its text
    row = _glaive_row("USER: I need a 15% tip on a $85.50 bill.",
                      _glaive_call("calculate_tip", {"bill_amount": 85.5, "tip_percentage": 15}),
                      "FUNCTION RESPONSE: {'tip_amount': 12.83",
                      "ASSISTANT: The tip is $12.83. <|endoftext|>")
    assert convert_row(row, "glaive")["results"][0][1] == "{'tip_amount': 12.83"
    # a call whose response the chat does not record: no result, the call still counts
    row = _glaive_row("USER: Tip of 20% on $40 please.",
                      _glaive_call("calculate_tip", {"bill_amount": 40, "tip_percentage": 20}))
    task = convert_row(row, "glaive")
    assert task["kind"] == "single" and task["results"] == []


def test_imported_results_fill_the_tool_results_column_the_schema_only_backend_answers_from(tmp_path):
    from toolbrain_hub.environment import make_environment_factory

    source = tmp_path / "glaive.jsonl"
    rows = [_glaive_row("USER: What do Apple and Microsoft trade at?",
                        _glaive_call("get_stock_price", {"symbol": "AAPL"}),
                        'FUNCTION RESPONSE: {"stock_price": 150.75}',
                        _glaive_call("get_stock_price", {"symbol": "MSFT"}),
                        'FUNCTION RESPONSE: {"stock_price": 216.54}'),
            _glaive_row("USER: How much should I tip on $85.50 at 15%?",
                        _glaive_call("calculate_tip", {"bill_amount": 85.5, "tip_percentage": 15}),
                        "FUNCTION RESPONSE: The tip is 12.83 dollars"),
            _glaive_row("USER: Tip of 20% on $40 please.",
                        _glaive_call("calculate_tip", {"bill_amount": 40, "tip_percentage": 20}))]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    taskset = import_tasks(source, "glaive", test_size=0)
    by_query = {r["query"]: r for r in taskset.train}
    stocks = by_query["What do Apple and Microsoft trade at?"]
    # one tool called twice: each entry names the arguments of the call it answers
    assert json.loads(stocks["tool_results"]) == [
        {"name": "get_stock_price", "arguments": {"symbol": "AAPL"}, "result": {"stock_price": 150.75}},
        {"name": "get_stock_price", "arguments": {"symbol": "MSFT"}, "result": {"stock_price": 216.54}}]
    tip = by_query["How much should I tip on $85.50 at 15%?"]
    assert json.loads(tip["tool_results"]) == [{"name": "calculate_tip", "result": "The tip is 12.83 dollars"}]
    assert by_query["Tip of 20% on $40 please."]["tool_results"] == ""
    # the environment answers the calls with the dataset's results, and falls back to the echo without them
    env = make_environment_factory(taskset.tools)()
    env.reset(**stocks)
    assert json.loads(env.get_stock_price(symbol="MSFT")) == {"stock_price": 216.54}
    assert json.loads(env.get_stock_price(symbol="AAPL")) == {"stock_price": 150.75}
    env.reset(**tip)
    assert env.calculate_tip(bill_amount=85.5, tip_percentage=15) == "The tip is 12.83 dollars"
    env.reset(**by_query["Tip of 20% on $40 please."])
    assert json.loads(env.calculate_tip(bill_amount=40, tip_percentage=20))["status"] == "ok"
    assert [c.source for c in env.calls] == ["echo"]


_TOOLACE_SYSTEM = ("You are an expert in composing functions. You are given a question and a set of possible "
                   "functions.\nHere is a list of functions in JSON format that you can invoke:\n" + json.dumps([
                       {"name": "Get Exchange Rate", "description": "Latest exchange rate between two currencies.",
                        "parameters": {"type": "dict", "properties": {
                            "base": {"type": "string", "description": "Base currency code"},
                            "target": {"type": "string", "description": "Target currency code"}},
                            "required": ["base", "target"]}, "required": None},
                       {"name": "Weather Forecast", "description": "Daily weather forecast for a city.",
                        "parameters": {"type": "dict", "properties": {
                            "city": {"type": "string", "description": "City name"},
                            "days": {"type": "int", "description": "Number of days"}},
                            "required": ["city"]}, "required": None}])
                   + ". Should you decide to return the function call(s), put them in the format of "
                   "[func1(params_name=params_value, params_name2=params_value2...), func2(params)]")


def _toolace_row(*turns: tuple[str, str]) -> dict:
    return {"system": _TOOLACE_SYSTEM, "conversations": [{"from": who, "value": text} for who, text in turns]}


def test_toolace_tool_turns_answer_the_calls_of_the_turn_before_them():
    # the tool turn lists one {"name", "results"} per call, not necessarily in call order: matched by name
    row = _toolace_row(("user", "What's the euro to dollar rate, and the 3-day forecast for Lyon?"),
                       ("assistant", '[Get Exchange Rate(base="EUR", target="USD"), Weather Forecast(city="Lyon", '
                                     'days=3)]'),
                       ("tool", json.dumps([{"name": "Weather Forecast", "results": {"days": ["sun", "rain", "sun"]}},
                                            {"name": "Get Exchange Rate", "results": {"rate": 1.0842}}])),
                       ("assistant", "The rate is 1.0842; Lyon: sun, rain, sun."))
    task = convert_row(row, "toolace")
    assert task["kind"] == "parallel"
    assert task["results"] == [
        ({"name": "Get_Exchange_Rate", "arguments": {"base": "EUR", "target": "USD"}}, {"rate": 1.0842}),
        ({"name": "Weather_Forecast", "arguments": {"city": "Lyon", "days": 3}}, {"days": ["sun", "rain", "sun"]})]
    # one tool twice in one turn: its entries answer its calls in order
    row = _toolace_row(("user", "Forecasts for Oslo and Bergen, please."),
                       ("assistant", '[Weather Forecast(city="Oslo"), Weather Forecast(city="Bergen")]'),
                       ("tool", json.dumps([{"name": "Weather Forecast", "results": {"today": "snow"}},
                                            {"name": "Weather Forecast", "results": {"today": "rain"}}])))
    assert [(c["arguments"]["city"], r) for c, r in convert_row(row, "toolace")["results"]] == [
        ("Oslo", {"today": "snow"}), ("Bergen", {"today": "rain"})]
    # "function" and "observation" turns too; a result that is not JSON is kept as its text; an entry naming a
    # tool the turn did not call answers nothing
    row = _toolace_row(("user", "USD to JPY?"), ("assistant", '[Get Exchange Rate(base="USD", target="JPY")]'),
                       ("observation", "Rate: 151.2 (source: ECB)"))
    assert convert_row(row, "toolace")["results"][0][1] == "Rate: 151.2 (source: ECB)"
    row = _toolace_row(("user", "USD to JPY?"), ("assistant", '[Get Exchange Rate(base="USD", target="JPY")]'),
                       ("function", json.dumps([{"name": "Weather Forecast", "results": {"today": "sun"}}])))
    assert convert_row(row, "toolace")["results"] == []
    # calls over two turns, each answered; the user speaking again ends the task
    row = _toolace_row(("user", "Rate of GBP to EUR, then the forecast for Paris."),
                       ("assistant", '[Get Exchange Rate(base="GBP", target="EUR")]'),
                       ("tool", json.dumps([{"name": "Get Exchange Rate", "results": {"rate": 1.17}}])),
                       ("assistant", '[Weather Forecast(city="Paris")]'),
                       ("tool", json.dumps([{"name": "Weather Forecast", "results": {"today": "cloudy"}}])),
                       ("user", "And Rome?"), ("assistant", '[Weather Forecast(city="Rome")]'),
                       ("tool", json.dumps([{"name": "Weather Forecast", "results": {"today": "sun"}}])))
    task = convert_row(row, "toolace")
    assert task["kind"] == "multi" and [r for _, r in task["results"]] == [{"rate": 1.17}, {"today": "cloudy"}]
    # no tool turn: no result
    row = _toolace_row(("user", "USD to JPY?"), ("assistant", '[Get Exchange Rate(base="USD", target="JPY")]'))
    assert convert_row(row, "toolace")["results"] == []


def test_recorded_results_survive_saving_and_mixing(tmp_path):
    toolace = import_tasks(TOOLACE, "toolace", test_size=0.25)
    xlam = import_tasks(XLAM, "xlam", test_size=0)
    generated = generate_tasks(DATA / "weather_openai.json", num=6, seed=2, progress=False)
    assert "tool_results" not in generated.train.column_names
    # xLAM records no results: its rows have the column, empty
    assert set(xlam.train["tool_results"]) == {""}
    rows = _rows(toolace)
    boeing = json.loads(rows["Check the news on Boeing, then get its stock price."]["tool_results"])
    assert boeing == [{"name": "Market_News", "result": {"items": []}},
                      {"name": "Get_Stock_Quote", "result": {"price": 171.0}}]
    # a task set saved before the column existed (no tool_results) still loads and mixes
    old = save_tasks(generated, tmp_path / "old")
    mixed = concat_tasks(old, toolace, xlam)
    saved = load_taskset(save_tasks(mixed, tmp_path / "mixed"))
    for split in saved.dataset.values():
        for row in split:
            if row["generator"] == "import:toolace":
                assert row["tool_results"] == rows[row["query"]]["tool_results"]
            else:
                assert row["tool_results"] == ""
    assert len(saved) == len(generated) + len(toolace) + len(xlam)
    assert "| `tool_results` |" in (tmp_path / "mixed" / "README.md").read_text()
    assert "| `tool_results` |" not in (tmp_path / "old" / "README.md").read_text()
    # sets without the column mix without it
    assert "tool_results" not in concat_tasks(old, generate_tasks(DATA / "weather_openai.json", num=4, seed=3,
                                                                  progress=False)).train.column_names


# -------------------------------------------------------------------------------------------------------- sources


def test_parquet_and_folder_sources_read_the_same_rows(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = json.loads(XLAM.read_text())
    folder = tmp_path / "repo" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "train-00000-of-00001.parquet")
    from_json = import_tasks(XLAM, "xlam", test_size=0)
    from_parquet = import_tasks(tmp_path / "repo", "xlam", test_size=0)
    assert from_parquet.train["id"] == from_json.train["id"]
    assert from_parquet.report.examples[0].startswith("train-00000-of-00001.parquet, row 4: invalid_json")


def test_a_hub_dataset_repo_is_a_source(hub_server, tmp_path):
    from toolbrain_hub import hub

    folder = tmp_path / "upload"
    folder.mkdir()
    (folder / "glaive-function-calling-v2.json").write_text(json.dumps(
        [json.loads(line) for line in GLAIVE.read_text().splitlines()]))
    (folder / "README.md").write_text("---\nlicense: apache-2.0\n---\n# rows\n")
    repo = f"{hub_server.user}/glaive-{uuid.uuid4().hex[:8]}"
    hub.push_folder(folder, repo, repo_type="dataset", token=hub_server.token)
    taskset = import_tasks(repo, "glaive", token=hub_server.token, limit=3)
    assert taskset.report.kept == 3 and taskset.report.settings["source"] == repo
    assert taskset.report.examples == ["glaive-function-calling-v2.json, row 2: no_tools: the row offers no tools"]


def test_bad_sources_say_what_is_wrong(tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text('[{"query": "a",\n "tools": ]')
    with pytest.raises(TaskError, match=r"broken.json: line 2: not valid JSON"):
        import_tasks(broken, "xlam")
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"query": "a"}\n{"query": \n')
    with pytest.raises(TaskError, match=r"rows.jsonl, line 2: not valid JSON"):
        import_tasks(lines, "xlam")
    scalar = tmp_path / "scalar.json"
    scalar.write_text("42")
    with pytest.raises(TaskError, match="expected a JSON list of rows, got int"):
        import_tasks(scalar, "xlam")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TaskError, match=r"no data files \(.json, .jsonl, .parquet\)"):
        import_tasks(empty, "xlam")
    with pytest.raises(TaskError, match="no such file or folder"):
        import_tasks(tmp_path / "missing.json", "xlam")
    with pytest.raises(TaskError, match="unknown format 'sharegpt'"):
        import_tasks(XLAM, "sharegpt")
    with pytest.raises(TaskError, match=r"no row could be converted as xlam \(6 read; missing_column 6\); first: "
                                        r"glaive.jsonl, line 1: missing_column: no 'tools' column"):
        import_tasks(GLAIVE, "xlam")
    not_rows = tmp_path / "not_rows.json"
    not_rows.write_text('["a", {"query": "q"}]')
    with pytest.raises(TaskError, match="not_an_object 1, missing_column 1"):
        import_tasks(not_rows, "xlam")


def test_limit_keeps_the_first_tasks():
    taskset = import_tasks(XLAM, "xlam", limit=2, test_size=0)
    assert taskset.report.kept == 2 and taskset.report.attempts == 2 and taskset.report.requested == 2


# -------------------------------------------------------------------------------------------------------- mixing


def test_imported_tasks_mix_with_generated_ones(tmp_path):
    generated = generate_tasks(DATA / "weather_openai.json", num=10, seed=1, test_size=0.2, progress=False)
    xlam = import_tasks(XLAM, "xlam", test_size=0.25)
    glaive = import_tasks(GLAIVE, "glaive", test_size=0.25)
    mixed = concat_tasks(generated, xlam, glaive)
    assert len(mixed) == len(generated) + len(xlam) + len(glaive)
    assert {name: len(split) for name, split in mixed.dataset.items()} == {
        name: sum(len(s.dataset[name]) for s in (generated, xlam, glaive)) for name in ("train", "test")}
    assert mixed.report.generator == "schema+import:xlam+import:glaive"
    # three tools named get_weather, three schemas: each row keeps its own
    rows = _rows(mixed)
    weather = {tuple(sorted(_tool(r, "get_weather")["parameters"]["properties"])) for r in rows.values()
               if any(t["function"]["name"] == "get_weather" for t in r["tools"])}
    assert weather == {("city", "unit"), ("city", "units"), ("days", "location")}
    folder = save_tasks(mixed, tmp_path / "mixed")
    back = load_taskset(folder)
    assert back.train["id"] == mixed.train["id"] and back.report.kept == len(mixed)
    assert [t.name for t in load_task_tools(folder)][:3] == ["get_weather", "get_forecast", "get_air_quality"]
    assert "made of generated and imported tasks" in (folder / "README.md").read_text()
    # the same tasks twice: the second copy is dropped and counted
    again = concat_tasks(folder, xlam)
    assert len(again) == len(mixed) and again.report.settings["duplicates_dropped"] == len(xlam)
    with pytest.raises(TaskError, match="at least two task sets"):
        concat_tasks(folder)


# ------------------------------------------------------------------------------------------------------------ CLI


def run_cli(*args: str):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "toolbrain_hub.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_cli_import_into_and_concat(tmp_path):
    generated = save_tasks(generate_tasks(DATA / "weather_openai.json", num=8, seed=0, progress=False),
                           tmp_path / "generated")
    before = len(load_tasks(generated)["train"])
    done = run_cli("tasks", "import", str(TOOLACE), "--format", "toolace", "--into", str(generated), "--seed", "1")
    assert done.returncode == 0, done.stderr
    assert "imported 4 of 7 rows (train 3, test 1)" in done.stdout
    assert "2 tool names rewritten to be valid tool names (e.g. 'Get Stock Quote' -> 'Get_Stock_Quote'" in done.stdout
    assert "not converted: 3 rows (unreadable_call 2, invalid_call 1); first:" in done.stderr
    assert "toolace.json, row 4: unreadable_call" in done.stderr
    assert len(load_tasks(generated)["train"]) == before + 3
    done = run_cli("tasks", "import", str(XLAM), "--format", "xlam", "--out", str(tmp_path / "xlam"), "--limit", "3")
    assert done.returncode == 0, done.stderr
    card = (tmp_path / "xlam" / "README.md").read_text()
    assert "imported by ToolBrain Hub from" in card and "license: other" in card
    done = run_cli("tasks", "concat", str(generated), str(tmp_path / "xlam"), "--out", str(tmp_path / "all"))
    assert done.returncode == 0, done.stderr
    assert len(load_taskset(tmp_path / "all")) == len(load_taskset(generated)) + 3
    again = run_cli("tasks", "concat", str(generated), str(tmp_path / "xlam"), "--out", str(tmp_path / "all"))
    assert again.returncode == 2 and "already exists" in again.stderr  # a combined folder is never overwritten


@pytest.mark.parametrize("args, expected", [
    (["tasks", "import", str(DATA / "weather_openai.json"), "--format", "xlam", "--out", "x"],
     "no row could be converted as xlam"),
    (["tasks", "import", str(XLAM), "--format", "csv", "--out", "x"], "unknown format 'csv'"),
    (["tasks", "import", str(XLAM), "--format", "xlam", "--into", str(DATA)], "not a task dataset folder"),
    (["tasks", "import", "no/such/file.json", "--format", "xlam", "--out", "x"], "no such file or folder"),
])
def test_cli_import_bad_input_exits_2_with_one_line(args, expected):
    done = run_cli(*args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr.startswith("error: ") and expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr

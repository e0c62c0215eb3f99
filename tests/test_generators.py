"""The schema generator writes requests people write (issue 15, point 5), asks for parallel calls (point 4), and an
optional LLM paraphrase keeps only rewrites that still state every argument.

Measured on the example tool sets (the Space's weather/currency example and tests/data/travel_tools.json): no
template phrases, no parameter names standing in for natural words, capital sentence starts, distinct values for
from/to pairs, values that fit each parameter's description (IATA and ISO codes, tickers, date layouts), varied
sentence shapes, and every argument value recoverable from its request.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

from toolbrain_hub.tasks import DEFAULT_MIX, generate_tasks
from toolbrain_hub.tasks.card import render_dataset_card
from toolbrain_hub.tasks.spoken import ungrounded_values
from toolbrain_hub.tools import load_tools

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(Path(__file__).parent))

# Real codes, written here from the standards (not from the generator's pools).
IATA = set("""JFK LAX SFO ORD ATL SEA BOS MIA DEN DFW IAD EWR CDG ORY LHR LGW FRA MUC AMS MAD BCN FCO MXP LIS DUB ZRH
GVA VIE BRU CPH OSL ARN HEL IST DXB DOH AUH SIN HKG NRT HND KIX ICN PEK PVG SYD MEL AKL YYZ YVR YUL GRU GIG EZE SCL
LIM BOG MEX CUN JNB CPT CAI NBO BKK KUL CGK DEL BOM MNL TPE""".split())
CURRENCIES = set("""USD EUR GBP JPY CHF CAD AUD NZD CNY HKD SGD INR BRL MXN SEK NOK DKK PLN CZK HUF ZAR KRW TRY THB
IDR MYR PHP AED SAR ILS""".split())
COUNTRIES2 = set("""US GB FR DE ES IT PT IE NL BE CH AT SE NO DK FI PL CZ GR TR JP KR CN IN TH VN ID MY SG AU NZ CA MX
BR AR CL PE CO ZA EG KE NG MA""".split())
LANGUAGES = set("en fr es de it pt nl ja ko zh ar hi ru sv pl tr da fi no el he".split())
TICKERS = set("""AAPL MSFT GOOGL GOOG AMZN NVDA TSLA META IBM ORCL NFLX INTC AMD SAP SONY SHOP UBER ABNB DIS KO PEP
NKE JPM V WMT""".split())


@pytest.fixture(scope="module")
def weather_currency():
    from space.tools_tab import EXAMPLE_TOOLS

    return json.loads(EXAMPLE_TOOLS)


@pytest.fixture(scope="module")
def example_tasks(weather_currency):
    """Tool tasks of both example sets, several seeds."""
    out = {}
    for name, tools in (("weather_currency", weather_currency), ("travel", DATA / "travel_tools.json")):
        rows = []
        for seed in (0, 1):
            ts = generate_tasks(tools, num=60, seed=seed, test_size=0, progress=False)
            rows += [dict(r, calls=json.loads(r["expected_calls"])) for r in ts.train]
        out[name] = rows
    return out


def _values(calls: list[dict]) -> list:
    def leaves(v):
        if isinstance(v, dict):
            return [x for i in v.values() for x in leaves(i)]
        if isinstance(v, list):
            return [x for i in v for x in leaves(i)]
        return [v]
    return [x for c in calls for x in leaves(c["arguments"])]


# ---------------------------------------------------------------------------------------------------------------
# Requests people write


# Template phrases, and parameter names standing in for words ("with the city Paris", "to currency: USD").
TEMPLATE_PHRASES = ["where the", "of money", "to another", "from currency", "to currency", "max stops", "check in",
                    "with the city", "origin", "destination", "using", "set to", "amount:"]


def test_requests_have_no_template_phrases_and_proper_sentences(example_tasks):
    for name, rows in example_tasks.items():
        for row in rows:
            query = row["query"]
            for phrase in TEMPLATE_PHRASES:
                assert not re.search(rf"\b{re.escape(phrase)}", query.lower()), (name, phrase, query)
            assert not re.search(r"\bi\b", query), query  # "First, i need"
            # every sentence starts with a capital letter (or a digit or a quote) and ends with . ? or !
            for sentence in re.split(r"(?<=[.?!])\s+", query):
                assert re.match(r"[A-Z0-9\"]", sentence), (name, query)
            assert query[-1] in ".?!\"'", query
            assert not re.search(r"\s[,.?!]|,,|\.\.|\b(\w+) \1\b", query), query


def test_from_and_to_values_differ(example_tasks):
    pairs = 0
    for rows in example_tasks.values():
        for row in rows:
            for call in row["calls"]:
                args = call["arguments"]
                for a, b in (("from_currency", "to_currency"), ("origin", "destination")):
                    if a in args:
                        pairs += 1
                        assert args[a] != args[b], row["query"]
    assert pairs > 40


def test_values_fit_their_descriptions(example_tasks):
    seen = Counter()
    for row in example_tasks["travel"]:
        for call in row["calls"]:
            args = call["arguments"]
            if call["name"] == "search_flights":  # "IATA code of the departure airport": a real airport code
                assert args["origin"] in IATA and args["destination"] in IATA, args
                dt.date.fromisoformat(args["date"])  # "Departure date, YYYY-MM-DD"
                seen["airports"] += 1
            if call["name"] == "convert_currency":
                assert {args["from_currency"], args["to_currency"]} <= CURRENCIES
            if call["name"] == "book_hotel":
                assert re.fullmatch(r"[A-Z][a-z]+(?: [A-Z][a-z]+)?", args["city"]), args
    assert seen["airports"] >= 10

    tools = [
        {"name": "check_visa", "description": "Check visa rules.", "parameters": {"type": "object", "properties": {
            "passport": {"type": "string", "description": "ISO 3166-1 alpha-2 country code of the passport"},
            "language": {"type": "string", "description": "Answer language, ISO 639-1 code"},
            "travel_date": {"type": "string", "description": "Day of travel, DD/MM/YYYY"}},
            "required": ["passport", "language", "travel_date"]}},
        {"name": "get_quote", "description": "Get a stock quote.", "parameters": {"type": "object", "properties": {
            "symbol": {"type": "string", "description": "Ticker symbol, e.g. MSFT"},
            "location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
            "required": ["symbol", "location"]}},
    ]
    ts = generate_tasks(tools, num=40, seed=0, mix={"single": 1}, test_size=0, progress=False)
    for row in ts.train:
        (call,) = json.loads(row["expected_calls"])
        args = call["arguments"]
        if call["name"] == "check_visa":
            assert args["passport"] in COUNTRIES2 and args["language"] in LANGUAGES, args
            dt.datetime.strptime(args["travel_date"], "%d/%m/%Y")
        else:
            assert args["symbol"] in TICKERS and re.fullmatch(r"[A-Z][A-Za-z ]+, [A-Z]{2}", args["location"]), args


def test_parameters_are_implied_by_natural_phrasing(example_tasks):
    """"from JPY to USD", "in Tokyo", "on March 3, 2025": the value comes with a preposition, not a parameter name."""
    natural = Counter()
    for row in example_tasks["weather_currency"] + example_tasks["travel"]:
        query = row["query"]
        for call in row["calls"]:
            args = call["arguments"]
            if call["name"] == "convert_currency":
                natural["currency"] += bool(re.search(rf"{args['from_currency']} (to|into|in) {args['to_currency']}"
                                                      r"|both|and", query))
            if call["name"] == "get_weather":  # "in Paris", "For Paris, ...", "in Paris and Tokyo"
                natural["city"] += bool(re.search(rf"\b(in|for|and) {re.escape(args['city'])}", query, re.I))
            if call["name"] == "search_flights":  # "from CDG to JFK", "From CDG, ... to JFK"
                natural["route"] += bool(re.search(rf"\bfrom {args['origin']}\b", query, re.I) and
                                         re.search(rf"\bto {args['destination']}\b", query))
    total = Counter()
    for row in example_tasks["weather_currency"] + example_tasks["travel"]:
        for call in row["calls"]:
            total[{"convert_currency": "currency", "get_weather": "city", "search_flights": "route"}.get(
                call["name"], "other")] += 1
    for key in ("currency", "city", "route"):
        assert natural[key] >= 0.9 * total[key], (key, natural, total)


def _shape(row: dict) -> str:
    """A request with its values masked: what is left is its sentence shape."""
    text = row["query"]
    for value in sorted({str(v) for v in _values(row["calls"])}, key=len, reverse=True):
        text = text.replace(value, "<v>")
    text = re.sub(r"\b(January|February|March|April|May|June|July|August|September|October|November|December|"
                  r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\b[^,.?!]*?\d{4}", "<v>", text)
    return re.sub(r"[\d.]+", "<n>", text.lower())


GREETING = re.compile(r"^(Hi|Hello|Hey)[!,]\s*")


def _family(query: str, values: list) -> str:
    """The kind of sentence a request is (read here from its words, independently of the generator)."""
    query = GREETING.sub("", query)
    sentences = re.split(r"(?<=[.?!])\s+", query)
    if len(sentences) > 1 and not any(str(v) in sentences[0] for v in values) and len(sentences[0].split()) <= 8:
        return "context first"  # "I'm planning a trip. Could you ..."
    if re.match(r"(On|In|For|From|At) [^,]+, ", query):
        return "date or place first"  # "On May 3, 2025, ..."
    if re.match(r"(Could|Can|Would) (you|I)\b", query):
        return "polite question"
    if re.match(r"(I need|I'd like|I want|I'm trying|Help me|I'm looking|Show me|Give me|Tell me)\b", query):
        return "need"
    if re.match(r"(What|How|Are there|Do you|Which|Any)\b", query):
        return "question"
    return "fragment" if query.endswith("?") else "imperative"


def test_sentence_shapes_vary_for_every_tool(weather_currency):
    for tools in (weather_currency, DATA / "travel_tools.json"):
        ts = generate_tasks(tools, num=150, seed=3, mix={"single": 1}, test_size=0, progress=False)
        families: dict[str, Counter] = {}
        for row in ts.train:
            (call,) = json.loads(row["expected_calls"])
            families.setdefault(call["name"], Counter())[_family(row["query"], list(call["arguments"].values()))] += 1
        for name, seen in families.items():
            assert len(seen) >= 5 and max(seen.values()) <= 0.4 * sum(seen.values()), (name, seen)
            assert seen["context first"] + seen["date or place first"] > 0, (name, seen)


def test_sentence_shapes_are_not_repeated(example_tasks):
    for name, rows in example_tasks.items():
        tool_rows = [r for r in rows if r["calls"]][:50]
        assert len(tool_rows) == 50
        assert len({_shape(r) for r in tool_rows}) >= 45, name
        questions = sum(r["query"].rstrip('"').endswith("?") for r in tool_rows)
        assert 10 <= questions <= 40, (name, questions)  # questions and statements both


def test_optional_arguments_are_sometimes_given(example_tasks):
    given = Counter()
    calls = Counter()
    for row in example_tasks["travel"]:
        for call in row["calls"]:
            calls[call["name"]] += 1
            given.update(f"{call['name']}.{k}" for k in call["arguments"])
    for name, optional in (("search_flights", ("cabin", "max_stops")), ("book_hotel", ("guests", "room"))):
        for key in optional:
            assert 0 < given[f"{name}.{key}"] < calls[name], (name, key, given, calls)


def test_every_value_can_be_read_back_from_its_request(example_tasks):
    for rows in example_tasks.values():
        for row in rows:
            for call in row["calls"]:
                assert ungrounded_values(row["query"], call["arguments"]) == [], (row["query"], call)


# ---------------------------------------------------------------------------------------------------------------
# Reading values back (the check every kept task passes)


@pytest.mark.parametrize("query, arguments, missing", [
    ("Flights from CDG to JFK on March 3, 2025.", {"o": "CDG", "d": "JFK", "date": "2025-03-03"}, []),
    ("Flights on 3 March 2025, please.", {"date": "2025-03-03"}, []),
    ("Flights on Mar 3, 2025.", {"date": "2025-03-03"}, []),
    ("Flights in March 2025.", {"date": "2025-03-03"}, ["2025-03-03"]),
    ("Travel on 14/03/2025.", {"date": "14/03/2025"}, []),
    ("Travel on March 14, 2025.", {"date": "14/03/2025"}, []),
    ("Meet at 2:30 pm.", {"time": "14:30"}, []),
    ("Meet on May 3, 2025 at 09:30 UTC.", {"at": "2025-05-03T09:30:00Z"}, []),
    ("Meet on May 3, 2025 at 09:30.", {"at": "2025-05-03T09:30:00Z"}, ["2025-05-03T09:30:00Z"]),
    ("Book it for two guests and three nights.", {"guests": 2, "nights": 3}, []),
    ("One-way flights, please.", {"max_stops": 1}, [1]),
    ("Answer yes, please.", {"language": "es"}, ["es"]),
    ("In premium economy class.", {"cabin": "premium_economy"}, []),
    ("Convert 250 EUR.", {"amount": 250.0}, []),
    ("Convert 250.5 EUR.", {"amount": 250.0}, [250.0]),
    ("Send 1,200 USD.", {"amount": 1200}, []),
])
def test_ungrounded_values(query, arguments, missing):
    assert ungrounded_values(query, arguments) == missing


# ---------------------------------------------------------------------------------------------------------------
# Parallel calls


SEQUENCE_WORDS = re.compile(r"\b(then|after that|once that's done|first,|before you|finally)\b", re.I)


def test_parallel_tasks_ask_for_several_calls_in_one_turn(weather_currency):
    assert DEFAULT_MIX["parallel"] > 0 and abs(sum(DEFAULT_MIX.values()) - 1) < 1e-9
    ts = generate_tasks(weather_currency, num=40, seed=0, mix={"parallel": 1}, test_size=0, progress=False)
    assert ts.report.coverage["kind"] == {"single": 0, "parallel": 40, "multi": 0, "no_tool": 0}
    same_tool = 0
    for row in ts.train:
        calls = json.loads(row["expected_calls"])
        assert row["kind"] == "parallel" and 2 <= len(calls) <= 3
        assert len({json.dumps(c, sort_keys=True) for c in calls}) == len(calls)  # no call asked twice
        assert not SEQUENCE_WORDS.search(row["query"]), row["query"]
        same_tool += len({c["name"] for c in calls}) == 1
    assert 8 <= same_tool <= 32  # "the weather in Paris and in Tokyo" and "... and also convert ..."
    merged = [r["query"] for r in ts.train if re.search(r"weather (in|for) [A-Z][\w ]+,? and (in |for )?[A-Z]",
                                                       r["query"])]
    assert merged, "no same-tool request names its cities together"


def test_sequences_stay_distinct_from_parallel_calls(weather_currency):
    ts = generate_tasks(weather_currency, num=30, seed=2, mix={"multi": 1}, test_size=0, progress=False)
    for row in ts.train:
        assert row["kind"] == "multi" and len(json.loads(row["expected_calls"])) == 2
        assert SEQUENCE_WORDS.search(row["query"]), row["query"]


def test_the_default_mix_has_every_kind_and_the_card_explains_them(weather_currency):
    ts = generate_tasks(weather_currency, num=40, seed=0, progress=False)
    assert ts.report.coverage["kind"] == {"single": 20, "parallel": 6, "multi": 8, "no_tool": 6}
    card = render_dataset_card(ts)
    assert "| parallel | 6 |" in card and "`parallel` needs several independent calls" in card


# ---------------------------------------------------------------------------------------------------------------
# LLM paraphrase, over HTTP to a scripted OpenAI-compatible server


def _rewrite(body: dict) -> str:
    """A scripted model: rewrites well, loses a value, or repeats the request, depending on the request."""
    request = body["messages"][1]["content"].rsplit("Request: ", 1)[1]
    choice = len(request) % 3
    if choice == 0:
        return "Could you sort that out for me?"  # every value lost
    if choice == 1:
        return f"Here's the rewritten request:\n\n\"Hey there! {request[0].lower()}{request[1:]}\""
    return request


def test_paraphrase_keeps_rewrites_that_state_every_value(weather_currency, tmp_path):
    from openai_server import ScriptedOpenAIServer

    plain = generate_tasks(weather_currency, num=24, seed=4, test_size=0, progress=False)
    with ScriptedOpenAIServer(_rewrite) as server:
        ts = generate_tasks(weather_currency, num=24, seed=4, test_size=0, progress=False, paraphrase=server.url)
        bodies = list(server.requests)
    report = ts.report.paraphrase
    tool_rows = [r for r in plain.train if json.loads(r["expected_calls"])]
    assert len(bodies) == report["asked"] == len(tool_rows)  # requests that need no tool are not sent
    assert report["model"] == server.url and ts.report.settings["paraphrase"] == server.url
    # each prompt carries the request and the values that must survive
    for body in bodies:
        prompt = body["messages"][1]["content"]
        request = prompt.rsplit("Request: ", 1)[1]
        row = next(r for r in tool_rows if r["query"] == request)
        for value in _values(json.loads(row["expected_calls"])):
            assert str(value) in prompt
        assert body["temperature"] == 0.7
    expected = Counter(("lost_value", "rewritten", "unchanged")[len(r["query"]) % 3] for r in tool_rows)
    assert report["rewritten"] == expected["rewritten"] > 0
    assert report["kept_original"] == {k: v for k, v in expected.items() if k != "rewritten" and v}
    for before, after in zip(plain.train, ts.train, strict=True):  # same tasks, same order; only the wording moved
        assert after["expected_calls"] == before["expected_calls"] and after["kind"] == before["kind"]
        if json.loads(before["expected_calls"]) and len(before["query"]) % 3 == 1:
            assert after["query"] == f"Hey there! {before['query'][0].lower()}{before['query'][1:]}"
            assert after["prompt"][1]["content"] == after["query"] and after["id"] != before["id"]
        else:
            assert after["query"] == before["query"]
    card = render_dataset_card(ts)
    assert f"{expected['rewritten']} of {len(tool_rows)} requests rewritten" in card


def test_paraphrase_model_errors_keep_the_generated_requests(weather_currency):
    from openai_server import Scripted, ScriptedOpenAIServer

    with ScriptedOpenAIServer(lambda body: Scripted("overloaded", status=503)) as server:
        ts = generate_tasks(weather_currency, num=8, seed=1, test_size=0, progress=False, paraphrase=server.url)
    plain = generate_tasks(weather_currency, num=8, seed=1, test_size=0, progress=False)
    assert ts.train["query"] == plain.train["query"]
    report = ts.report.paraphrase
    assert report["rewritten"] == 0 and report["kept_original"] == {"model_error": report["asked"]}
    assert "HTTP 503" in report["examples"][0]


def test_paraphrase_checks():
    from toolbrain_hub.tasks.paraphrase import clean_rewrite, rewrite_problem

    calls = [{"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}}]
    original = "What's the current weather in Paris in celsius?"
    assert rewrite_problem(original, "How warm is it in Paris right now, in celsius?", calls, {"get_weather"}) is None
    assert rewrite_problem(original, "How warm is it in Paris?", calls, set()).startswith("lost_value: 'celsius'")
    assert rewrite_problem(original, "Run get_weather for Paris in celsius.", calls,
                           {"get_weather"}).startswith("names_tool")
    assert rewrite_problem(original, "what's the current weather in paris in celsius", calls,
                           set()).startswith("unchanged")
    assert rewrite_problem(original, "Weather in <city> in celsius?", calls, set()).startswith("placeholder")
    assert clean_rewrite('Rewritten request: "Is it cold in Paris?"\n\nI kept every value.') == "Is it cold in Paris?"


@pytest.mark.parametrize("name", ["calendar_email.json", "files_notes.json", "travel.json", "shop_orders.json"])
def test_public_style_schemas_give_grounded_requests(name):
    """The held-out sets' tools (nested objects, arrays, patterns, ids): every value is stated, ids verbatim, and no
    request names a tool the way code does ("returned by search_flights")."""
    raw = json.loads((Path(__file__).parents[1] / "bench" / "heldout" / name).read_text())
    tools = load_tools(raw["tools"], name=name)
    ts = generate_tasks(tools, num=120, seed=0, test_size=0, progress=False)
    assert ts.report.kept == 120 and "ungrounded_argument" not in ts.report.rejected, ts.report.rejected
    names = [t.name for t in tools if "_" in t.name]
    for row in ts.train:
        assert not any(n in row["query"] for n in names), row["query"]
        for call in json.loads(row["expected_calls"]):
            assert ungrounded_values(row["query"], call["arguments"]) == [], (row["query"], call)
            for key, value in call["arguments"].items():
                if key.endswith("_id") and isinstance(value, str):
                    assert value in row["query"], (row["query"], key, value)  # "evt_4f", never "evt 4f"

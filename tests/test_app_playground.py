"""The app over real HTTP: the Playground tab called through gradio_client, as a browser would."""

from __future__ import annotations

import json

import pytest
from app_helpers import running_app


@pytest.fixture(scope="module")
def playground_url(default_model_dir, tmp_path_factory):
    with running_app(TOOLBRAIN_HUB_WORKSPACE=str(tmp_path_factory.mktemp("workspace"))) as url:
        yield url


def _ask(url, tools, question, model=""):
    from gradio_client import Client

    return Client(url, verbose=False).predict(tools, question, model, 64, api_name="/playground_ask")


@pytest.mark.default_model
def test_playground_parses_the_default_models_weather_call(playground_url):
    from space.playground import EXAMPLE_TOOLS

    status, raw, parsed = _ask(playground_url, EXAMPLE_TOOLS, "What is the weather in Paris?")
    assert raw, status
    assert [c["name"] for c in parsed["calls"]] == ["get_weather"], raw
    assert parsed["calls"][0]["arguments"]["city"].lower().startswith("paris")
    assert "1 tool call(s) parsed" in status


@pytest.mark.default_model
def test_playground_shows_schema_errors_instead_of_crashing(playground_url):
    status, raw, parsed = _ask(playground_url, '[{"type": "function", "function": {"name": "x"}}', "hi")
    assert status.startswith("**Invalid tool schemas:**") and "line" in status
    assert raw == "" and parsed is None
    bad_tool = json.dumps([{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "array"}}}])
    status, _, _ = _ask(playground_url, bad_tool, "hi")
    assert "get_weather" in status
    # A pasted path is data, not a file to open on the server.
    status, _, _ = _ask(playground_url, "/etc/passwd", "hi")
    assert "Invalid tool schemas" in status and "root:" not in status

"""Cards rendered from datasets_cards/ templates: valid YAML metadata, a body that reflects the data, safe text."""

from __future__ import annotations

from pathlib import Path

import pytest
from huggingface_hub import DatasetCard

from toolbrain_hub.hub.cards import CardError, inline_images, md_cell, py_literal, render_card, size_category
from toolbrain_hub.tasks import generate_tasks
from toolbrain_hub.tasks.card import render_dataset_card

DATA = Path(__file__).parent / "data"


@pytest.fixture(scope="module")
def taskset():
    return generate_tasks(DATA / "calendar_mcp.json", num=40, seed=11, progress=False)


def test_dataset_card_metadata(taskset):
    card = DatasetCard(render_dataset_card(taskset, license="mit", repo_id="alice/calendar-tasks"))
    data = card.data.to_dict()
    assert data["license"] == "mit"
    assert data["language"] == ["en"]
    assert data["task_categories"] == ["text-generation"]
    assert "toolbrain" in data["tags"] and "tool-calling" in data["tags"]
    assert data["size_categories"] == ["n<1K"]
    assert data["pretty_name"] == "Tool-use tasks: create_event, list_events, cancel_event"
    assert data["configs"] == [{"config_name": "default", "data_files": [
        {"split": "train", "path": "data/train-*.parquet"}, {"split": "test", "path": "data/test-*.parquet"}]}]
    only_train = generate_tasks(DATA / "calendar_mcp.json", num=5, test_size=0, progress=False)
    configs = DatasetCard(render_dataset_card(only_train)).data.to_dict()["configs"]
    assert configs[0]["data_files"] == [{"split": "train", "path": "data/train-*.parquet"}]


def test_dataset_card_body_reflects_the_generation(taskset):
    text = render_dataset_card(taskset, repo_id="alice/calendar-tasks")
    report, cov = taskset.report, taskset.report.coverage
    assert "| `create_event` | Creates a calendar event. | `title` (string, required), `date` (string, required), " \
           "`start_time` (string, required), `attendees` (array), `reminder` (object) |" in text
    assert "- Generator: `schema`" in text and "- Seed: 11" in text
    assert f"Requested 40 tasks, kept 40 after {report.attempts} proposals" in text
    assert f"| train | {len(taskset.train)} |" in text and f"| test | {len(taskset.test)} |" in text
    for kind, n in cov["kind"].items():
        assert f"| {kind} | {n} |" in text
    for level, n in cov["difficulty"].items():
        assert f"| {level} | {n} |" in text
    used = len(cov["arguments"]["list_events"]["used"])
    assert f"| `list_events` | {cov['tools']['list_events']} | {used} / 2 |" in text
    assert f"Negatives (no tool needed): {cov['negatives']}." in text
    assert 'load_dataset("alice/calendar-tasks")' in text
    assert report.settings["system_prompt"] in text


def test_user_text_cannot_break_the_card():
    hostile = [{"name": "evil", "description": "Pipes | break\n---\nlicense: stolen\n<script>alert(1)</script> tables",
                "parameters": {"type": "object", "properties": {"x": {"type": "string"}}, "required": ["x"]}}]
    ts = generate_tasks(hostile, num=6, seed=0, progress=False)
    text = render_dataset_card(ts, pretty_name="Name: with # YAML | specials\n---")
    card = DatasetCard(text)
    assert card.data.license == "apache-2.0"
    assert card.data.pretty_name == "Name: with # YAML | specials\n---"
    assert "<script>" not in text and "&lt;script&gt;" in text
    row = next(line for line in text.splitlines() if line.startswith("| `evil` |"))
    assert row.count(" | ") == 2 and "Pipes \\| break --- license: stolen" in row
    assert "\n---\nlicense: stolen" not in card.text


def test_md_cell_and_size_categories():
    assert md_cell("a | b\nc <b>") == "a \\| b c &lt;b&gt;"
    assert [size_category(n) for n in (0, 999, 1000, 9_999, 10_000, 250_000, 5_000_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M"]


def test_render_card_is_general(tmp_path):
    template = tmp_path / "model_card.md"
    template.write_text("---\n{{ card_data }}\n---\n\n# {{ title | md_text }}\n\nBase model: {{ base }}\n")
    text = render_card(str(template), metadata={"license": "apache-2.0", "tags": ["toolbrain"]}, title="My agent",
                       base="qwen")
    card = DatasetCard(text)
    assert card.data.tags == ["toolbrain"] and "Base model: qwen" in card.text
    with pytest.raises(CardError, match="'base' is undefined"):
        render_card(str(template), metadata={}, title="x")
    with pytest.raises(CardError, match="no card template 'nope'.*available: .*dataset_card"):
        render_card("nope", metadata={})


def test_card_passes_the_hub_yaml_validation(hub_server, taskset):
    DatasetCard(render_dataset_card(taskset)).validate(repo_type="dataset")


def test_py_literal_is_python_not_json():
    import ast

    for text in ["that's", 'say "hi"', "both ' and \"", "line\nbreak", "café ✓"]:
        literal = py_literal(text)
        assert ast.literal_eval(literal) == text and "\\u" not in literal


def test_inline_images_embeds_the_folders_images_only(tmp_path):
    import base64

    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16
    (tmp_path / "curve.png").write_bytes(png)
    (tmp_path.parent / "outside.png").write_bytes(png)
    card = ("![Curves](curve.png)\n![Gone](missing.png)\n![Web](https://example.com/a.png)\n"
            "![Out](../outside.png)\n[not an image](curve.png)")
    out = inline_images(card, tmp_path).splitlines()
    assert out[0] == f"![Curves](data:image/png;base64,{base64.b64encode(png).decode()})"
    assert out[1:] == card.splitlines()[1:]  # missing, remote, outside the folder, plain links: as they were

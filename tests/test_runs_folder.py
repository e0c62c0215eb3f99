"""The run folder's readers: JSON Lines (lenient for a run being written, strict for a user's file), metrics from the
file or from an HF Jobs log, what counts as a run folder, and where a run's trained agent is."""

from __future__ import annotations

import json

import pytest

from toolbrain_hub.jobs.registry import LauncherError, RunRegistry
from toolbrain_hub.jsonl import JsonlError, iter_jsonl, read_jsonl
from toolbrain_hub.runs import (
    ADAPTER_DIR,
    METRICS_FILE,
    STATUS_FILE,
    RunFolder,
    is_run_folder,
    read_metrics,
    run_metrics,
)

ROWS = [{"step": 1, "kind": "train", "reward": 0.25}, {"step": 2, "kind": "train", "reward": 0.5}]


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return path


def test_jsonl_lines_numbers_blank_lines_and_errors(tmp_path):
    path = _write(tmp_path / "rows.jsonl", '{"a": 1}\n\n[2, 3]\n{"b": \n')
    with pytest.raises(JsonlError, match=r"rows\.jsonl, line 4: not valid JSON") as err:
        list(iter_jsonl(path))
    assert (err.value.line, err.value.path) == (4, str(path)) and isinstance(err.value, ValueError)
    assert list(iter_jsonl(path, skip_invalid=True)) == [(1, {"a": 1}), (3, [2, 3])]
    with pytest.raises(JsonlError, match=r"line 3: a row must be a JSON object, got list"):
        read_jsonl(path, rows="a row")
    assert read_jsonl(path, skip_invalid=True, rows="a row") == [{"a": 1}]


def test_read_metrics_follows_a_run_being_written(tmp_path):
    run = RunFolder(tmp_path / "run")
    assert read_metrics(run.root) == []  # nothing logged yet
    run.append_jsonl(run.metrics_file, ROWS)
    with run.metrics_file.open("a") as f:
        f.write('{"step": 3, "rew')  # the writer was killed mid-line
    assert read_metrics(run.root) == ROWS
    assert read_metrics(run.metrics_file) == ROWS  # the file itself too


def test_read_metrics_strict_names_the_file_and_line(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"no metrics file at .*{METRICS_FILE}"):
        read_metrics(tmp_path, strict=True)
    path = _write(tmp_path / METRICS_FILE, json.dumps(ROWS[0]) + "\n" + '"a string"\n')
    with pytest.raises(ValueError, match=rf"{METRICS_FILE}, line 2: a metrics row must be a JSON object, got str"):
        read_metrics(tmp_path, strict=True)
    assert read_metrics(path) == ROWS[:1]


def test_run_metrics_prefers_the_file_and_falls_back_to_the_log(tmp_path):
    log = "loading\nstep 1/2 loss=0.5 reward=0.25\nstep 2/2 loss=0.25 reward=0.5\ndone\n"
    assert run_metrics(tmp_path) == [] and run_metrics(tmp_path, log_text="") == []
    from_log = run_metrics(tmp_path, log_text=log)  # an HF Jobs run: its metrics file is still in the container
    assert [(r["step"], r["reward"], r["loss"]) for r in from_log] == [(1, 0.25, 0.5), (2, 0.5, 0.25)]
    RunFolder(tmp_path).append_jsonl(tmp_path / METRICS_FILE, ROWS[:1])
    assert run_metrics(tmp_path, log_text=log) == ROWS[:1]  # once the file is there, it is the source


def test_is_run_folder(tmp_path):
    assert not is_run_folder(tmp_path) and not is_run_folder(tmp_path / "missing")
    (tmp_path / "run").mkdir()
    _write(tmp_path / "run" / STATUS_FILE, '{"state": "running"}')
    (tmp_path / "done" / ADAPTER_DIR).mkdir(parents=True)
    assert is_run_folder(tmp_path / "run") and is_run_folder(str(tmp_path / "done"))
    assert not is_run_folder(tmp_path / "run" / STATUS_FILE)


def test_agent_location_of_a_run(tmp_path):
    registry = RunRegistry(tmp_path)
    local = registry.new(owner="alice", launcher="local", config={"algorithm": "grpo"})
    with pytest.raises(LauncherError, match="has no adapter here and was not pushed anywhere"):
        local.agent_location()
    (local.path / ADAPTER_DIR).mkdir()
    assert local.agent_location() == local.run_dir
    job = registry.new(owner="alice", launcher="hf-jobs", config={"algorithm": "grpo", "push_to": "alice/agent"})
    assert job.agent_location() == "alice/agent"  # the job published it; its container is gone

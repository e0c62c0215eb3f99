"""The run registry: records on disk that survive a restart, owner isolation, safe ids, atomic writes."""

from __future__ import annotations

import json

import pytest

from toolbrain_hub.jobs.registry import RunNotFoundError, RunRecord, RunRegistry


def _config(algorithm: str = "grpo") -> dict:
    return {"algorithm": algorithm, "model": "tiny-random-qwen2", "tasks": "alice/tasks", "max_steps": 2}


def test_a_new_run_is_a_folder_with_its_record(tmp_path):
    registry = RunRegistry(tmp_path / "runs")
    record = registry.new(owner="alice", launcher="local", config=_config(), name="first try")
    folder = tmp_path / "runs" / record.id
    assert folder.is_dir() and record.run_dir == str(folder.resolve())
    on_disk = json.loads((folder / "run.json").read_text())
    assert on_disk["owner"] == "alice" and on_disk["launcher"] == "local" and on_disk["status"] == "queued"
    assert on_disk["config"]["algorithm"] == "grpo" and on_disk["name"] == "first try"
    assert on_disk["artifacts"] == {"run folder": str(folder.resolve())}
    assert record.id.split("-")[2] == "grpo"
    assert not list(folder.glob("*.tmp")), "atomic writes leave no temp file behind"


def test_runs_survive_a_restart(tmp_path):
    registry = RunRegistry(tmp_path)
    record = registry.new(owner="alice", launcher="hf-jobs", config=_config("sft"))
    registry.update(record.id, status="running", job_id="abc123", message="HF Job running")
    reopened = RunRegistry(tmp_path)  # a new app process
    again = reopened.get(record.id, owner="alice")
    assert (again.status, again.job_id, again.message, again.launcher) == ("running", "abc123", "HF Job running",
                                                                          "hf-jobs")
    assert again.to_dict() == RunRecord.from_dict(again.to_dict()).to_dict()


def test_owners_see_only_their_own_runs(tmp_path):
    registry = RunRegistry(tmp_path)
    mine = registry.new(owner="alice", launcher="local", config=_config())
    theirs = registry.new(owner="bob", launcher="local", config=_config("dpo"))
    assert [r.id for r in registry.list(owner="alice")] == [mine.id]
    assert [r.id for r in registry.list(owner="bob")] == [theirs.id]
    assert {r.id for r in registry.list()} == {mine.id, theirs.id}
    with pytest.raises(RunNotFoundError) as err:
        registry.get(theirs.id, owner="alice")
    # Another user's run answers exactly like a run that does not exist.
    with pytest.raises(RunNotFoundError) as missing:
        registry.get("20990101-000000-grpo-abcdef", owner="alice")
    assert str(err.value).replace(theirs.id, "ID") == str(missing.value).replace("20990101-000000-grpo-abcdef", "ID")
    assert registry.get(theirs.id, owner="bob").config["algorithm"] == "dpo"


def test_run_ids_cannot_reach_outside_the_registry(tmp_path):
    registry = RunRegistry(tmp_path / "runs")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "run.json").write_text(json.dumps({"id": "x", "owner": "alice", "launcher": "local"}))
    for bad in ["../secret", "/etc", "", "..", "20260101-000000-grpo-abcdef/../../secret", None]:
        with pytest.raises(RunNotFoundError):
            registry.get(bad, owner="alice")
    with pytest.raises(ValueError, match="owner"):
        registry.new(owner="../alice", launcher="local", config=_config())


def test_list_is_newest_first_and_filters_by_status(tmp_path):
    registry = RunRegistry(tmp_path)
    first = registry.new(owner="alice", launcher="local", config=_config())
    second = registry.new(owner="alice", launcher="local", config=_config())
    registry.update(first.id, created_at="2026-01-01T00:00:00Z", status="completed")
    registry.update(second.id, created_at="2026-01-02T00:00:00Z")
    assert [r.id for r in registry.list(owner="alice")] == [second.id, first.id]
    assert [r.id for r in registry.list(statuses=("completed",))] == [first.id]
    (tmp_path / "not-a-run").mkdir()  # stray folders are ignored
    (tmp_path / "20260101-000000-grpo-badbad").mkdir()  # a run folder without a record too
    assert len(registry.list()) == 2
    with pytest.raises(AttributeError, match="no field"):
        registry.update(first.id, colour="red")


def test_runs_using_a_task_dataset(tmp_path):
    registry = RunRegistry(tmp_path / "runs")
    folder = tmp_path / "datasets" / "travel"
    folder.mkdir(parents=True)
    on_folder = registry.new(owner="alice", launcher="local", config={**_config(), "tasks": str(folder)})
    # The same folder written another way still counts; another folder, a repo id or another owner do not.
    same = registry.new(owner="alice", launcher="local", config={**_config(), "tasks": str(folder) + "/"})
    registry.new(owner="alice", launcher="local", config={**_config(), "tasks": str(tmp_path / "other")})
    on_repo = registry.new(owner="alice", launcher="hf-jobs", config={**_config(), "tasks": "alice/travel"})
    registry.new(owner="bob", launcher="local", config={**_config(), "tasks": str(folder)})
    assert {r.id for r in registry.using_tasks(folder, owner="alice")} == {on_folder.id, same.id}
    assert len(registry.using_tasks(folder)) == 3
    assert [r.id for r in registry.using_tasks("alice/travel", owner="alice")] == [on_repo.id]
    assert registry.using_tasks("", owner="alice") == []

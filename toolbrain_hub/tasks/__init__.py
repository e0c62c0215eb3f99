"""Tasks: task sets generated from tool descriptions (schema sampler or LLM), saved and pushed with a dataset card;
hand-written request files (`request_files`) read as task sets."""

from __future__ import annotations

from .generation import DEFAULT_MIX, generate_tasks
from .request_files import REQUEST_KINDS, is_request_file, load_request_file, load_request_files
from .taskset import (
    COLUMNS,
    DEFAULT_SYSTEM_PROMPT,
    DatasetExistsError,
    GenerationReport,
    TaskError,
    TaskSet,
    check_task_folder,
    coverage,
    describe_task_folder,
    load_task_tools,
    load_tasks,
    push_tasks,
    save_tasks,
    task_features,
    task_folders,
)

__all__ = [
    "COLUMNS", "DEFAULT_MIX", "DEFAULT_SYSTEM_PROMPT", "DatasetExistsError", "GenerationReport", "REQUEST_KINDS",
    "TaskError", "TaskSet", "check_task_folder", "coverage", "describe_task_folder", "generate_tasks",
    "is_request_file", "load_request_file", "load_request_files", "load_task_tools", "load_tasks", "push_tasks",
    "save_tasks", "task_features", "task_folders"
]

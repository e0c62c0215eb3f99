"""Stopping long jobs outside training on request: task generation with a model, evaluation, an agent's answer.

A job takes `should_stop`, a callable returning True once the user asked it to stop (a UI's Stop button, a closed
page). The job checks it between its steps (generation rounds, model turns) and, through `stopping_criteria`,
between the tokens of a local model's generation, then raises `Stopped` with what it had done. A thread cannot be
killed from outside, so this is how a job run in a worker thread really ends instead of running on unseen.
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import ToolBrainError

StopCheck = Callable[[], bool]


class Stopped(ToolBrainError, RuntimeError):
    """A job ended early because it was asked to stop; `str(e)` says what it had done by then."""


def check(should_stop: StopCheck | None, done: str) -> None:
    """Raise `Stopped` if a stop was asked for.

    Args:
        should_stop: The job's stop request (None: the job cannot be stopped).
        done: What the job had done, for the message ("evaluation stopped after 8 of 40 tasks").
    """
    if should_stop is not None and should_stop():
        raise Stopped(done)


def stopping_criteria(should_stop: StopCheck | None):
    """A transformers `StoppingCriteriaList` that ends `generate` at the next token once a stop is asked for, or
    None without `should_stop` (the caller then checks after generating, with `check`).

    Args:
        should_stop: The job's stop request.
    """
    if should_stop is None:
        return None
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _Requested(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            return torch.full((input_ids.shape[0],), bool(should_stop()), dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_Requested()])

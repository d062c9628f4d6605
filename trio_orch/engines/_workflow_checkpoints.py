"""Durable workflow runs: :func:`run_checkpointed` (``await wf.run(store=..., run_id=...)``).

Each step's result is saved in a durable job store (cattrs unstructure, JSON) as soon as the
step succeeds.  Running the same ``run_id`` again (after a crash, say) does not run the steps
that succeeded: they return their saved results, which their dependents receive (structured
back with cattrs to the step function's return annotation); only what was not done runs.

This module wraps the workflow's step functions and runs a copy of the workflow, so the
engine needs no change; ``Workflow.run(store=, run_id=)`` is a one-line delegation to
:func:`run_checkpointed` (see docs/stores.md, "Durable workflows").
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import typing
from typing import TYPE_CHECKING, Any

import attrs
import trio

from trio_orch._exceptions import CheckpointError, WorkflowDefinitionError
from trio_orch._validate import check_nonempty_str
from trio_orch.engines._jobs_model import to_json_data
from trio_orch.engines._store_schema import SqlJobStore
from trio_orch.engines._workflow import Workflow

if TYPE_CHECKING:
    from collections.abc import Callable

    from trio_orch.engines._jobs_store import JobStore
    from trio_orch.engines._workflow_model import Step, WorkflowResult

__all__ = ["run_checkpointed", "workflow_fingerprint"]


def _fn_id(fn: Callable[..., Any]) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    # not the module: a script run as __main__ and imported is the same workflow
    return str(getattr(fn, "__qualname__", type(fn).__qualname__))


def workflow_fingerprint(wf: Workflow) -> str:
    """A digest of the workflow's shape: its id, step names, dependencies and function names.

    A run saved under one fingerprint is refused under another (a changed definition).
    """
    steps = sorted([step.name, sorted(step.dependencies), _fn_id(step.fn)] for step in wf.steps)
    shape = [wf.id, *steps]
    return hashlib.sha256(json.dumps(shape).encode()).hexdigest()[:32]


def _return_type(fn: Callable[..., Any]) -> Any:
    target = fn.func if isinstance(fn, functools.partial) else fn
    try:
        return typing.get_type_hints(target).get("return", Any)
    except Exception:  # unresolvable annotations: hand the JSON data over as it is
        return Any


def _restore(value: Any, kind: Any) -> Any:
    if kind is Any or kind is None or kind is type(None):
        return value
    import cattrs  # on first use: `import trio_orch` stays light

    try:
        return cattrs.structure(value, kind)
    except Exception:  # a type cattrs cannot build: the JSON data as it was saved
        return value


def _wrap(step: Step, store: SqlJobStore, run_id: str, saved: dict[str, Any]) -> Step:
    """``step`` whose function returns its saved result, or runs and saves what it returns."""
    fn = step.fn
    name = step.name
    kind = _return_type(fn)

    async def checkpointed(*args: Any, **kwargs: Any) -> Any:
        if name in saved:  # it succeeded in an earlier attempt of this run: do not redo it
            await trio.lowlevel.checkpoint()
            return _restore(saved[name], kind)
        value = await fn(*args, **kwargs)
        try:
            data = to_json_data(value, "result")
        except (TypeError, ValueError) as exc:
            raise CheckpointError(name, str(exc)) from None
        await store.save_checkpoint(run_id, name, data)
        return value

    # The engine passes what the step function's signature asks for: keep it.
    with contextlib.suppress(TypeError, ValueError):
        checkpointed.__signature__ = inspect.signature(fn)  # type: ignore[attr-defined]
    checkpointed.__name__ = checkpointed.__qualname__ = name
    return attrs.evolve(step, fn=checkpointed, depends_on=step.dependencies)


def _check_store(store: object) -> SqlJobStore:
    if not isinstance(store, SqlJobStore):
        msg = f"store must be a SqliteJobStore, a PostgresJobStore or their URL, got {store!r}"
        raise TypeError(msg)
    return store


async def run_checkpointed(
    wf: Workflow, *, store: JobStore | str, run_id: str, **run_options: Any
) -> WorkflowResult:
    """Run ``wf`` under ``run_id``, checkpointing each step that succeeds in ``store``.

    Running the same ``run_id`` again runs only the steps that did not succeed yet: the
    others return their saved results at once (their dependents get them, structured back
    to the step function's return annotation with cattrs).  A run that finished is run
    again as a whole from its checkpoints: nothing executes.

    Args:
        wf: the workflow.
        store: a :class:`~trio_orch.SqliteJobStore` or :class:`~trio_orch.PostgresJobStore`,
            or its URL (``"sqlite:///runs.db"``; the store is then closed at the end).
        run_id: names the run; choose it so that a retry after a crash uses the same one.
        run_options: passed to :meth:`Workflow.run` (``inputs``, ``check``, ``bus``, ...).

    Raises:
        TypeError: ``store`` is not a durable store (nor its URL); ``run_id`` is no str.
        ValueError: ``run_id`` is empty; a bad store URL.
        WorkflowDefinitionError: ``run_id`` was started with a different definition (step
            names, dependencies or functions changed).
        WorkflowFailed: as :meth:`Workflow.run`; a step whose result is not serializable
            fails with :class:`~trio_orch.CheckpointError` naming it.
        JobStoreError: the store cannot be reached.

    Cancellation:
        As :meth:`Workflow.run`.  A step's checkpoint is saved before the step counts as
        succeeded; a step cancelled while saving runs again next time.
    """
    check_nonempty_str("run_id", run_id)
    if isinstance(store, str):
        from trio_orch.engines._store_url import job_store_from_url

        owned = _check_store(job_store_from_url(store))
        try:
            return await _run(wf, owned, run_id, run_options)
        finally:
            with trio.CancelScope(shield=True) as cs:
                cs.deadline = trio.current_time() + 10
                await owned.aclose()
    return await _run(wf, _check_store(store), run_id, run_options)


async def _run(
    wf: Workflow, store: SqlJobStore, run_id: str, run_options: dict[str, Any]
) -> WorkflowResult:
    fingerprint = workflow_fingerprint(wf)
    recorded, saved = await store.open_checkpoints(run_id, wf.id, fingerprint)
    if recorded != fingerprint:
        msg = (
            f"workflow {wf.id!r} changed since run {run_id!r} was started (its steps, "
            "dependencies or functions differ): refusing to resume it; use a new run_id"
        )
        raise WorkflowDefinitionError(msg, workflow=wf.id)
    copy = Workflow(
        wf.id,
        steps=[_wrap(step, store, run_id, saved) for step in wf.steps],
        max_concurrent=wf.max_concurrent,
        failure=wf.failure,
        bus=wf.bus,
        progress=wf.progress,
        compensation_timeout=wf.compensation_timeout,
    )
    result: WorkflowResult = await copy.run(**run_options)
    return result

"""A build-and-deploy workflow: a DAG of async steps run in a nursery.

Shows the decorator form, dependency results passed by name, a retried flaky step with a
per-attempt timeout, progress reporting, events on a bus, the data form's dry-run plan (also
for a target and its dependencies), a run started in a nursery whose handle still has the
result after a cancellation, and the attempt hook.  Run it: ``python examples/workflow_demo.py``.
"""

from __future__ import annotations

from functools import partial

import trio

from trio_orch import (
    FailurePolicy,
    Jitter,
    RetryPolicy,
    Step,
    StepAttempt,
    StepContext,
    StepProgress,
    StepRetrying,
    StepSucceeded,
    Workflow,
    WorkflowEvent,
    open_event_bus,
)

wf = Workflow("build-deploy", max_concurrent=2, failure=FailurePolicy.FAIL_FAST)


@wf.step()
async def lint(ctx: StepContext) -> str:
    await trio.sleep(0.05)
    return "lint: clean"


@wf.step()
async def test(ctx: StepContext) -> dict[str, int]:
    for done in range(1, 5):
        await trio.sleep(0.02)
        ctx.progress(done / 4)
    return {"passed": 42, "failed": 0}


@wf.step(
    depends_on=[lint, test],
    retry=RetryPolicy(max_attempts=3, initial_delay=0.05, jitter=Jitter.NONE),
    timeout=1.0,
)
async def build(ctx: StepContext, test: dict[str, int]) -> str:
    await trio.sleep(0.02)
    if ctx.attempt == 1:  # the artifact store is flaky the first time
        raise ConnectionError("artifact store unavailable")
    return f"app-1.0.tar.gz ({test['passed']} tests passed)"


@wf.step(depends_on=[build])
async def deploy(ctx: StepContext, build: str) -> str:
    await trio.sleep(0.03)
    return f"deployed {build}"


def show(event: WorkflowEvent) -> None:
    if isinstance(event, StepProgress):
        print(f"  [event] {event.step}: {event.fraction:.0%}")
    elif isinstance(event, StepRetrying):
        print(f"  [event] {event.step}: attempt {event.attempt} failed ({event.error}), retrying")
    elif isinstance(event, StepSucceeded):
        print(f"  [event] {event.step} succeeded after {event.attempts} attempt(s)")


async def main() -> None:
    print("order:", " -> ".join(wf.order()))
    async with open_event_bus() as bus:
        bus.on(WorkflowEvent, show)
        result = await wf.run(bus=bus)
    print(f"workflow {result.workflow}: {result.status.name}")
    for name, step in result.steps.items():
        print(f"  {name:<7} {step.status.name:<9} attempts={step.attempts} value={step.value!r}")

    # The data form, as a configuration file would build it; plan() is a dry run.
    async def command(ctx: StepContext) -> str:
        await trio.sleep(0.01)
        return ctx.name

    data = Workflow(
        "from-config",
        steps=[
            Step("package", command, depends_on=["compile"]),
            Step("compile", command, timeout=60),
            Step("docs", command),
        ],
    )
    print("dry run:", [(s.name, list(s.depends_on)) for s in data.plan()])
    print("only package:", data.plan(["package"]).names)
    print("values:", (await data.run()).values)

    # A run as a handle, with an attempt hook; cancelled from outside after 0.07 s.
    def attempt(a: StepAttempt) -> None:
        if not a.running:
            print(f"  [hook] {a.step} attempt {a.attempt}/{a.max_attempts} took {a.duration:.2f}s")

    with trio.move_on_after(0.07):
        async with trio.open_nursery() as nursery:
            run = await nursery.start(partial(wf.run, check=False, on_attempt=attempt))
    assert run.result is not None
    for name, step in run.result.steps.items():
        print(f"  after the cancel: {name:<7} {step.status.name:<9} {step.reason or ''}")


if __name__ == "__main__":
    trio.run(main)

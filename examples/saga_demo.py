"""A saga: book a trip; when the payment fails, undo the bookings in reverse order.

Each step declares ``compensate=``; when the workflow fails, the compensations of the steps
that succeeded run newest first, shielded from cancellation and bounded by a timeout.  A
compensation that fails is reported next to the original failure, never instead of it.
Run it: ``python examples/saga_demo.py``.
"""

from __future__ import annotations

import logging

import structlog
import trio

from trio_orch import StepContext, Workflow, WorkflowFailed

trip = Workflow("book-trip", compensation_timeout=1.0)


async def cancel_booking(ctx: StepContext, booking: str) -> None:
    await trio.sleep(0.01)
    print(f"  undo {ctx.name}: cancelled {booking}")


async def cannot_cancel(ctx: StepContext, booking: str) -> None:
    await trio.sleep(0.01)
    raise OSError(f"{booking} is non-refundable")


@trip.step(compensate=cancel_booking)
async def flight(ctx: StepContext) -> str:
    await trio.sleep(0.02)
    print("  booked flight")
    return "flight LH123"


@trip.step(depends_on=[flight], compensate=cancel_booking)
async def hotel(ctx: StepContext, flight: str) -> str:
    await trio.sleep(0.02)
    print("  booked hotel")
    return "hotel Seaside, 3 nights"


@trip.step(depends_on=[flight], compensate=cannot_cancel)
async def car(ctx: StepContext, flight: str) -> str:
    await trio.sleep(0.03)
    print("  booked car")
    return "car rental #88"


@trip.step(depends_on=[hotel, car])
async def pay(ctx: StepContext, hotel: str, car: str) -> None:
    await trio.sleep(0.01)
    raise RuntimeError("card declined")


async def main() -> None:
    print("booking:")
    try:
        await trip.run()
    except WorkflowFailed as exc:
        result = exc.result
        print(f"failed: {exc}")
        print(f"cause: {exc.__cause__!r}")
        print("compensations (in the order they ran):")
        for name, comp in result.compensations.items():
            print(f"  {name:<7} {'ok' if comp.ok else f'FAILED: {comp.error}'}")
    else:
        raise SystemExit("the payment was supposed to fail")


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.ERROR))
    trio.run(main)

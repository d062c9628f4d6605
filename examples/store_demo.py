"""A Zustand-like store for a search box: Store, AsyncOperation, selector, debouncer, throttler.

Keystrokes update a ``Store``; a debouncer waits for 0.3 s of quiet before searching; the search
runs through ``track_operation``, so the store shows loading / success / error; a subscriber
renders the latest state (skipping the ones it was too slow to see); a throttled logger reports
at most once per second; ``store.select`` with a memoized ``selector`` yields only when the
result count changes.  It runs on Trio's virtual clock: instant and deterministic.
"""

from __future__ import annotations

import attrs
import trio
import trio.testing

from trio_orch import (
    AsyncOperation,
    Store,
    open_debouncer,
    open_throttler,
    selector,
    track_operation,
)

CATALOGUE = ["trio", "trio-websocket", "trio-util", "attrs", "cattrs", "structlog", "triangle"]


@attrs.frozen
class SearchState:
    query: str = ""
    results: AsyncOperation[tuple[str, ...]] = attrs.field(factory=AsyncOperation.idle)


async def search_backend(query: str) -> tuple[str, ...]:
    await trio.sleep(0.2)  # network latency
    if query == "boom":
        raise ConnectionError("search service unavailable")
    return tuple(name for name in CATALOGUE if name.startswith(query))


def with_query(state: SearchState, query: str) -> SearchState:
    return attrs.evolve(state, query=query)


def with_results(state: SearchState, results: AsyncOperation[tuple[str, ...]]) -> SearchState:
    return attrs.evolve(state, results=results)


@selector
def result_count(state: SearchState) -> int:
    return len(state.results.value or ())


def describe(state: SearchState) -> str:
    op = state.results
    shown = f"query={state.query!r:<7}"
    if op.is_loading:
        return f"{shown} searching... (still showing {len(op.value or ())} stale results)"
    if op.is_success:
        return f"{shown} results: {', '.join(op.value or ()) or '-'}"
    if op.is_error:
        return f"{shown} error: {op.error}"
    return f"{shown} idle"


async def main() -> None:
    store = Store(SearchState())
    results: Store[AsyncOperation[tuple[str, ...]]] = Store(AsyncOperation.idle())

    async def run_search(query: str) -> None:
        await track_operation(results, search_backend, query)

    async def mirror_results() -> None:
        async with results.subscribe() as ops:
            async for op in ops:
                store.update(with_results, op)

    async def render() -> None:
        async with store.subscribe() as states:
            async for state in states:
                print(f"t={trio.current_time():4.2f}  render: {describe(state)}")
                await trio.sleep(0.05)  # a slow renderer skips intermediate states

    async def watch_count() -> None:
        async with store.select(result_count, initial=False) as counts:
            async for count in counts:
                print(f"t={trio.current_time():4.2f}  result count is now {count}")

    def log_query(query: str) -> None:
        print(f"t={trio.current_time():4.2f}  throttled log: query={query!r}")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(mirror_results)
        nursery.start_soon(render)
        nursery.start_soon(watch_count)
        async with (
            open_debouncer(run_search, delay=0.3) as debounced_search,
            open_throttler(log_query, per_second=1.0) as throttled_log,
        ):
            for text in ["t", "tr", "tri", "trio"]:  # typing fast: one search only
                store.update(with_query, text)
                throttled_log(text)
                debounced_search(text)
                await trio.sleep(0.1)
            await trio.sleep(1.0)
            for text in ["a", "at", "boom"]:
                store.update(with_query, text)
                throttled_log(text)
                debounced_search(text)
                await trio.sleep(0.5)
            await trio.sleep(1.0)
            stats = debounced_search.stats
            print(
                f"debouncer: {stats.calls} calls, {stats.runs} searches, {stats.coalesced} coalesced"
            )
        await trio.sleep(0.5)
        results.close()
        store.close()
    print(f"selector recomputations: {result_count.recomputations}")
    print(f"final: {describe(store.state)}")


if __name__ == "__main__":
    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))

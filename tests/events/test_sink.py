"""The internal sink protocol's wrappers, against a recording sink (the bus-level behaviour
is tested through the public API in test_bus.py and test_delivery.py)."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from trio_orch.events._sink import DELIVERED, Call, Filtered, Mapped, Once


class Recording:
    """A sink that is full (try_put returns the item) while ``full`` is set."""

    name = "recording"

    def __init__(self) -> None:
        self.items: list[object] = []
        self.full = False
        self.closed = 0

    def offer(self, item: object) -> None:
        self.items.append(item)

    def try_put(self, item: object) -> object:
        if self.full:
            return item
        self.items.append(item)
        return DELIVERED

    async def wait_put(self, pending: object) -> None:
        await trio.lowlevel.checkpoint()
        self.items.append(pending)

    def close(self) -> None:
        self.closed += 1


async def test_wrappers_pass_pending_values_through_untouched() -> None:
    inner = Recording()
    sink = Filtered(Mapped(inner, lambda n: n * 10, "flow"), lambda n: n % 2, "flow")
    assert sink.name == "flow"
    sink.offer(1)
    sink.offer(2)  # filtered out
    assert sink.try_put(4) is DELIVERED  # filtered out
    inner.full = True
    pending = sink.try_put(3)
    assert pending == 30  # transformed once, by try_put
    assert sink.try_put(5) == 50  # other puts may come in between
    with trio.testing.assert_checkpoints():
        await sink.wait_put(pending)
    assert inner.items == [10, 30]
    sink.close()
    assert inner.closed == 1


async def test_once_passes_on_one_item_and_closes_after_it() -> None:
    fired: list[str] = []
    inner = Recording()
    inner.full = True
    once = Once(inner)
    once.on_fire = lambda: fired.append("detach")
    pending = once.try_put("a")
    assert pending == "a"
    assert once.try_put("b") is DELIVERED  # fired already: nothing passed on
    once.offer("c")
    assert fired == ["detach"]
    assert inner.closed == 0  # not before the pending item is delivered
    await once.wait_put(pending)
    assert inner.items == ["a"]
    assert inner.closed == 1


async def test_once_fires_once_even_when_delivery_fails() -> None:
    def boom(item: Any) -> None:
        raise ValueError(item)

    for deliver in ("offer", "try_put"):
        inner = Call(boom, "boom")
        once = Once(inner)
        with pytest.raises(ValueError, match=r"^x$"):
            getattr(once, deliver)("x")
        assert getattr(once, deliver)("y") in (None, DELIVERED)  # fired: never again
    assert repr(Call(boom, "boom")) == "<Call boom>"

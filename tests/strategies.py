"""Hypothesis strategies shared by the test suite (as attrs' ``tests/strategies.py``)."""

from __future__ import annotations

from hypothesis import strategies as st

from trio_orch import DropPolicy

#: Every drop policy.
drop_policies = st.sampled_from(list(DropPolicy))


@st.composite
def channel_configs(draw: st.DrawFn, max_max_size: int = 6) -> tuple[DropPolicy, int]:
    """A valid ``(drop, max_size)`` for ``open_bounded_channel``: small, so "full" is common.

    ``DropPolicy.OLDEST`` needs ``max_size >= 1``; the others accept 0 (rendezvous).
    """
    policy = draw(drop_policies)
    low = 1 if policy is DropPolicy.OLDEST else 0
    return policy, draw(st.integers(min_value=low, max_value=max_max_size))

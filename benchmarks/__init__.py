"""Moved: the benchmark harness and suites are :mod:`trio_orch.bench` (``trio-orch bench``)."""

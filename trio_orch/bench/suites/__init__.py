"""trio_orch's own benchmark suites, one module each: ``trio-orch bench NAME``.

Each module is a benchmark file like a user's (see :mod:`trio_orch.bench`): its functions
are marked with :func:`~trio_orch.bench.benchmark` or :func:`~trio_orch.bench.measures`, and
each suite runs in a fresh process.  Nothing here configures logging: the figures are what
a user gets with Python's defaults.
"""

"""The results of a ``trio-orch bench`` run, their aggregation, and their JSON form.

A run (:class:`BenchResults`) holds the :class:`Environment` it ran in and one
:class:`SuiteResult` per suite, each holding its :class:`FigureResult` rows: the median of
the repetitions, their spread (min, median, max), the baseline and ratio, and the target
met or missed.  :meth:`BenchResults.to_json` / :meth:`BenchResults.from_json` round-trip
them (``"schema": 1``); ``--compare`` and ``python -m trio_orch.bench.render`` read it back.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Final

import attrs
import cattrs

from trio_orch.bench._api import higher_is_better_for
from trio_orch.bench._targets import target_met

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from trio_orch.bench._api import Figure

SCHEMA: Final = 1

#: Distributions whose versions every result file records (None when not installed).
PACKAGES: Final = (
    "trio-orch",
    "trio",
    "trio-websocket",
    "attrs",
    "cattrs",
    "structlog",
    "rich",
    "pyee",
    "blinker",
    "tenacity",
    "stamina",
    "aiometer",
    "tqdm",
    "hdrhistogram",
    "procrastinate",
    "psycopg",
)


@attrs.frozen
class Spread:
    """The minimum, median and maximum of a figure's repetitions, and how many there were."""

    min: float
    median: float
    max: float
    count: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Spread:
        """The spread of ``samples`` (at least one)."""
        return cls(min(samples), statistics.median(samples), max(samples), len(samples))

    @property
    def relative(self) -> float:
        """``(max - min) / median``: how wide the spread is (0 for one sample or a 0 median)."""
        return (self.max - self.min) / abs(self.median) if self.median else 0.0


@attrs.frozen
class FigureResult:
    """One row of a suite's table: our figure over the repetitions, against a baseline."""

    name: str
    unit: str
    value: float
    spread: Spread
    samples: tuple[float, ...]
    baseline: str | None = None
    baseline_value: float | None = None
    ratio: float | None = None
    ratio_spread: Spread | None = None
    target: str | None = None
    met: bool | None = None
    higher_is_better: bool | None = None

    @property
    def key(self) -> str:
        """What ``--compare`` matches rows by: the name, and the baseline if any."""
        return f"{self.name} [vs {self.baseline}]" if self.baseline else self.name


@attrs.frozen
class Skipped:
    """A benchmark, a baseline or a figure that could not run, with why and what to do."""

    name: str
    reason: str
    hint: str | None = None


@attrs.frozen
class SuiteResult:
    """The outcome of one suite (one process): ``"ok"``, ``"skipped"`` or ``"failed"``."""

    name: str
    source: str
    status: str
    title: str = ""
    figures: tuple[FigureResult, ...] = ()
    skipped: tuple[Skipped, ...] = ()
    errors: tuple[str, ...] = ()
    seconds: float = 0.0
    repeat: int = 0

    @property
    def missed(self) -> tuple[FigureResult, ...]:
        """The rows whose target was missed."""
        return tuple(f for f in self.figures if f.met is False)


@attrs.frozen
class Environment:
    """Where a run happened: what a reader needs to judge its figures."""

    date: str
    python: str
    implementation: str
    platform: str
    machine: str
    cpu_count: int | None
    load_average: tuple[float, float, float] | None
    packages: dict[str, str | None]

    @classmethod
    def current(cls) -> Environment:
        """This interpreter and machine, now (UTC)."""
        try:
            load: tuple[float, float, float] | None = os.getloadavg()
        except OSError:  # pragma: no cover - platforms without a load average
            load = None
        packages: dict[str, str | None] = {}
        for name in PACKAGES:
            try:
                packages[name] = version(name)
            except PackageNotFoundError:
                packages[name] = None
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        return cls(
            date=now.isoformat(),
            python=platform.python_version(),
            implementation=sys.implementation.name,
            platform=platform.platform(),
            machine=platform.machine(),
            cpu_count=os.cpu_count(),
            load_average=load,
            packages=packages,
        )


@attrs.frozen
class BenchResults:
    """A whole run: its command, its environment and its suites."""

    command: str
    quick: bool
    repeat: int
    environment: Environment
    suites: tuple[SuiteResult, ...]
    schema: int = SCHEMA

    def to_json(self) -> str:
        """The results as indented JSON text."""
        return json.dumps(_converter.unstructure(self), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_json(cls, text: str) -> BenchResults:
        """Read results written by :meth:`to_json`.

        Raises:
            ValueError: not JSON, another schema, or not the shape of results.
        """
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            msg = f"not a results file: {exc}"
            raise ValueError(msg) from exc
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            msg = f"not a results file of schema {SCHEMA}: schema {found!r}"
            raise ValueError(msg)
        try:
            return _converter.structure(data, cls)
        except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
            msg = f"not a results file: {exc}"
            raise ValueError(msg) from exc

    @classmethod
    def load(cls, path: Path) -> BenchResults:
        """Read results from ``path`` (see :meth:`from_json`).

        Raises:
            OSError: the file cannot be read.
            ValueError: it does not hold results.
        """
        return cls.from_json(path.read_text(encoding="utf-8"))

    def find(self, suite: str) -> SuiteResult | None:
        """The result of the suite named ``suite``, if it ran."""
        return next((s for s in self.suites if s.name == suite), None)


_converter = cattrs.Converter(forbid_extra_keys=False)


def _median_or_none(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def aggregate(runs: Sequence[Sequence[Figure]]) -> tuple[FigureResult, ...]:
    """Fold repetitions of the same figures (matched by name, then baseline) into rows.

    A row's value is the median of its repetitions, its baseline's value the median of the
    baseline's, and its ratio the ratio of those two medians (the spread of the ratios of
    each repetition is kept as ``ratio_spread``).

    A name repeated within one run gets ``" #2"``, ``" #3"``... so that no figure is lost.
    Rows keep the order in which their names first appear.
    """
    order: list[str] = []
    grouped: dict[str, list[Figure]] = {}
    for run in runs:
        seen: dict[str, int] = {}
        for figure in run:
            key = f"{figure.name}\0{figure.baseline or ''}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > 1:
                key = f"{key}\0{seen[key]}"
            if key not in grouped:
                order.append(key)
                grouped[key] = []
            grouped[key].append(figure)
    rows = []
    for key in order:
        figures = grouped[key]
        first = figures[0]
        occurrence = key.split("\0")[2] if key.count("\0") == 2 else None
        name = f"{first.name} #{occurrence}" if occurrence else first.name
        samples = tuple(f.value for f in figures)
        spread = Spread.of(samples)
        ratios = [f.ratio for f in figures if f.ratio is not None]
        ratio = statistics.median(ratios) if ratios else None
        baseline_value = _median_or_none(
            f.baseline_value
            if f.baseline_value is not None
            else (f.value / f.ratio if f.ratio else None)
            for f in figures
        )
        higher = (
            first.higher_is_better
            if first.higher_is_better is not None
            else higher_is_better_for(first.unit, first.target)
        )
        if ratio is not None and baseline_value:
            ratio = spread.median / baseline_value  # what the row shows: the two medians
        rows.append(
            FigureResult(
                name=name,
                unit=first.unit,
                value=spread.median,
                spread=spread,
                samples=samples,
                baseline=first.baseline,
                baseline_value=baseline_value if first.baseline else None,
                ratio=ratio,
                ratio_spread=Spread.of(ratios) if ratios else None,
                target=first.target,
                met=target_met(first.target, spread.median, ratio, first.unit),
                higher_is_better=higher,
            )
        )
    return tuple(rows)


def suite_to_json(result: SuiteResult) -> str:
    """One suite's result as JSON text (how a suite's process hands it to the harness)."""
    return json.dumps(_converter.unstructure(result), ensure_ascii=False)


def suite_from_json(text: str) -> SuiteResult:
    """Read what :func:`suite_to_json` wrote.

    Raises:
        ValueError: not JSON, or not the shape of a suite's result.
    """
    try:
        return _converter.structure(json.loads(text), SuiteResult)
    except (json.JSONDecodeError, cattrs.BaseValidationError, KeyError, TypeError) as exc:
        msg = f"not a suite result: {exc}"
        raise ValueError(msg) from exc

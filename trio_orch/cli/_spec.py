"""The workflow file of ``trio-orch run``: TOML parsed with tomllib, structured with cattrs.

A file looks like::

    name = "build"              # optional: the file's stem by default
    max_concurrent = 2          # optional: no limit by default
    failure = "fail-fast"       # or "continue"
    cwd = "."                   # optional: relative to the file's directory
    env = { CI = "1" }          # optional: added to every step's environment

    [steps.test]
    run = "pytest -q"           # a shell command (sh -c), or a list: ["pytest", "-q"]
    description = "unit tests"  # shown by --list
    depends_on = ["lint"]
    inputs = ["src/**/*.py"]    # globs: unchanged inputs + existing outputs = up to date
    outputs = ["build/report.xml"]
    retry = { attempts = 3, delay = 1.0, backoff = 2.0 }   # or just: retry = 3
    timeout = 600               # seconds per attempt
    env = { PYTHONHASHSEED = "0" }
    cwd = "tests"               # relative to the workflow's cwd
    weight = 5                  # its share of the overall progress (e.g. expected seconds)

Every problem is reported as a :class:`~trio_orch.SpecError` whose message names the file, the
line (when it can be found), the key and what is wrong; all the problems of a file are reported
together (a type error does not hide an unknown dependency or a cycle).

Without a FILE, ``trio-orch run`` looks for ``trio-orch.toml`` in the current directory and
then in each parent (:func:`find_workflow_file`), as ``just`` finds its justfile.
"""

from __future__ import annotations

import functools
import operator
import re
import tomllib
import typing
from functools import partial
from typing import TYPE_CHECKING, Any

import attrs

from trio_orch._exceptions import SpecError, SpecProblem

if TYPE_CHECKING:
    from pathlib import Path

    import cattrs

__all__ = [
    "DEFAULT_FILE",
    "RetrySpec",
    "SpecError",
    "StepSpec",
    "WorkflowSpec",
    "find_workflow_file",
    "load_spec",
    "parse_spec",
]

#: the file ``trio-orch run`` looks for when no FILE is given
DEFAULT_FILE = "trio-orch.toml"

FAILURE_POLICIES = ("fail-fast", "continue")


@typing.final
@attrs.frozen
class RetrySpec:
    """``retry = {attempts = 3, delay = 1.0, backoff = 2.0}``: attempts count the first one."""

    attempts: int
    delay: float = 0.0
    backoff: float = 1.0


@typing.final
@attrs.frozen
class StepSpec:
    """One ``[steps.NAME]`` table."""

    run: str | list[str]
    description: str = ""
    depends_on: list[str] = attrs.Factory(list)
    inputs: list[str] = attrs.Factory(list)
    outputs: list[str] = attrs.Factory(list)
    retry: RetrySpec | None = None
    timeout: float | None = None
    env: dict[str, str] = attrs.Factory(dict)
    cwd: str | None = None
    weight: float = 1.0


@typing.final
@attrs.frozen
class WorkflowSpec:
    """A whole workflow file, validated.

    Attributes:
        path: the file it was read from.
        name: the workflow's name (the file's stem unless ``name`` is given).
        cwd: the directory steps run in unless they say otherwise (absolute).
        steps: by name, in the file's order.
    """

    path: Path
    name: str
    max_concurrent: int | None
    failure: str
    cwd: Path
    env: dict[str, str]
    steps: dict[str, StepSpec]

    def step_cwd(self, step: StepSpec) -> Path:
        """The directory ``step`` runs in."""
        return self.cwd if step.cwd is None else (self.cwd / step.cwd)


@attrs.frozen
class _FileSpec:
    """The top level of the file, as cattrs structures it."""

    steps: dict[str, StepSpec]
    name: str | None = None
    max_concurrent: int | None = None
    failure: str = "fail-fast"
    cwd: str | None = None
    env: dict[str, str] = attrs.Factory(dict)


Problem = SpecProblem


# --- structuring ---------------------------------------------------------------------------


class _WrongType(TypeError):
    pass


def _describe(value: object) -> str:
    kind = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    for t, name in kind.items():
        if type(value) is t:
            return f"{name} ({value!r})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


@functools.cache
def _converter() -> cattrs.Converter:
    """The cattrs converter, made the first time a file is not structured by the fast path
    (:func:`_fast_structure`): only a file with a problem needs it (and cattrs)."""
    import cattrs
    from cattrs.gen import make_dict_structure_fn

    for cls in (RetrySpec, StepSpec, _FileSpec):
        attrs.resolve_types(cls)
    converter = cattrs.Converter(forbid_extra_keys=True)

    def strict_int(value: object, _: object) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            msg = f"must be an integer, got {_describe(value)}"
            raise _WrongType(msg)
        return value

    def strict_float(value: object, _: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            msg = f"must be a number, got {_describe(value)}"
            raise _WrongType(msg)
        return float(value)

    def strict_str(value: object, _: object) -> str:
        if not isinstance(value, str):
            msg = f"must be a string, got {_describe(value)}"
            raise _WrongType(msg)
        return value

    def command(value: object, _: object) -> str | list[str]:
        if isinstance(value, str):
            return value
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return list(value)
        msg = f"must be a string or a non-empty array of strings, got {_describe(value)}"
        raise _WrongType(msg)

    def retry(value: object, _: object) -> RetrySpec:
        if isinstance(value, int) and not isinstance(value, bool):
            return RetrySpec(attempts=value)
        if not isinstance(value, dict):
            msg = f"must be a table {{attempts, delay, backoff}} or an integer, got {_describe(value)}"
            raise _WrongType(msg)
        return retry_table(value, RetrySpec)

    def step_table(value: object, _: object) -> StepSpec:
        if not isinstance(value, dict):
            msg = f"must be a table, got {_describe(value)}"
            raise _WrongType(msg)
        return step_fields(value, StepSpec)

    converter.register_structure_hook(int, strict_int)
    converter.register_structure_hook(float, strict_float)
    converter.register_structure_hook(str, strict_str)
    converter.register_structure_hook(str | list[str], command)
    converter.register_structure_hook(RetrySpec | None, retry)
    converter.register_structure_hook(StepSpec, step_table)

    for container in (dict[str, str], dict[str, StepSpec], list[str]):
        converter.register_structure_hook_func(
            partial(operator.eq, container), _checked_container(converter, container)
        )
    retry_table = make_dict_structure_fn(
        RetrySpec, converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )
    step_fields = make_dict_structure_fn(
        StepSpec, converter, _cattrs_forbid_extra_keys=True, _cattrs_detailed_validation=True
    )
    return converter


def _checked_container(converter: cattrs.Converter, cl: Any) -> Any:
    """cattrs' own hook for ``cl``, after checking that the value is a table / an array."""
    from cattrs.cols import list_structure_factory, mapping_structure_factory

    is_map = typing.get_origin(cl) is dict
    inner: Any = (
        mapping_structure_factory(cl, converter, dict, detailed_validation=True)
        if is_map
        else list_structure_factory(cl, converter)
    )

    def hook(value: object, _: object) -> Any:
        if not isinstance(value, dict if is_map else list):
            msg = f"must be {'a table' if is_map else 'an array'}, got {_describe(value)}"
            raise _WrongType(msg)
        return inner(value, cl)

    return hook


_FIELDS: dict[type[Any], tuple[str, ...]] = {
    cls: tuple(a.name for a in attrs.fields(cls)) for cls in (_FileSpec, StepSpec, RetrySpec)
}


def _problems_from(exc: BaseException, key: tuple[str | int, ...]) -> list[Problem]:
    """Walk cattrs' error tree; every leaf becomes a Problem at its key path."""
    from cattrs.errors import (
        AttributeValidationNote,
        ClassValidationError,
        ForbiddenExtraKeysError,
        IterableValidationError,
        IterableValidationNote,
    )

    for note in getattr(exc, "__notes__", ()):
        if isinstance(note, AttributeValidationNote):
            key = (*key, note.name)
        elif isinstance(note, IterableValidationNote):
            key = (*key, note.index)
    if isinstance(exc, ClassValidationError | IterableValidationError):
        return [p for sub in exc.exceptions for p in _problems_from(sub, key)]
    if isinstance(exc, ForbiddenExtraKeysError):
        known = _FIELDS.get(exc.cl, ())
        return [
            Problem((*key, extra), _unknown_key(extra, known)) for extra in sorted(exc.extra_fields)
        ]
    if isinstance(exc, KeyError):
        return [Problem(key, "is required but missing")]
    return [Problem(key, str(exc))]


def _unknown_key(key: str, known: tuple[str, ...]) -> str:
    message = f"unknown key (expected one of: {', '.join(known)})"
    import difflib  # only for a mistake's hint

    close = difflib.get_close_matches(key, known, n=1)
    if close:
        message = f"unknown key; did you mean {close[0]!r}?"
    return message


# --- the fast path ---------------------------------------------------------------------------
#
# A file whose every value has its right type is structured here, without cattrs: a tenth of
# the time, and cattrs is not even imported.  Anything else (a wrong type, an unknown key, a
# missing one) returns None, and cattrs structures the file and says what is wrong.  So this
# accepts nothing cattrs rejects and builds what cattrs builds (tests/cli/test_spec.py checks
# both on random files).


def _text(value: object) -> bool:
    return type(value) is str


def _texts(value: object) -> bool:
    return type(value) is list and all(type(v) is str for v in value)


def _text_table(value: object) -> bool:
    return type(value) is dict and all(type(v) is str for v in value.values())


def _number(value: object) -> bool:
    return type(value) is float or type(value) is int


_STEP_CHECKS: dict[str, typing.Callable[[object], bool]] = {
    "run": lambda v: type(v) is str or (_texts(v) and bool(v)),
    "description": _text,
    "depends_on": _texts,
    "inputs": _texts,
    "outputs": _texts,
    "timeout": _number,
    "env": _text_table,
    "cwd": _text,
    "weight": _number,
    "retry": lambda v: (
        type(v) is int
        or (
            type(v) is dict
            and type(v.get("attempts")) is int
            and v.keys() <= {"attempts", "delay", "backoff"}
            and all(_number(v[k]) for k in ("delay", "backoff") if k in v)
        )
    ),
}
_FILE_CHECKS: dict[str, typing.Callable[[object], bool]] = {
    "steps": lambda v: type(v) is dict,
    "name": _text,
    "max_concurrent": lambda v: type(v) is int,
    "failure": _text,
    "cwd": _text,
    "env": _text_table,
}


def _fast_step(table: object) -> StepSpec | None:
    if type(table) is not dict or "run" not in table:
        return None
    checks = _STEP_CHECKS
    for key, value in table.items():
        check = checks.get(key)
        if check is None or not check(value):
            return None
    fields = dict(table)
    for key in ("depends_on", "inputs", "outputs", "run"):
        if type(fields.get(key)) is list:
            fields[key] = list(fields[key])
    for key in ("timeout", "weight"):
        if key in fields:
            fields[key] = float(fields[key])
    if "env" in fields:
        fields["env"] = dict(fields["env"])
    retry = fields.get("retry")
    if type(retry) is int:
        fields["retry"] = RetrySpec(attempts=retry)
    elif retry is not None:
        numbers: dict[str, Any] = {k: float(v) for k, v in retry.items() if k != "attempts"}
        fields["retry"] = RetrySpec(retry["attempts"], **numbers)
    return StepSpec(**fields)


def _fast_structure(raw: dict[str, Any]) -> _FileSpec | None:
    """The file as cattrs would structure it, when every value is right; else None."""
    if "steps" not in raw:
        return None
    checks = _FILE_CHECKS
    for key, value in raw.items():
        check = checks.get(key)
        if check is None or not check(value):
            return None
    steps = {}
    for name, table in raw["steps"].items():
        step = _fast_step(table)
        if step is None:
            return None
        steps[name] = step
    fields = {**raw, "steps": steps}
    if "env" in fields:
        fields["env"] = dict(fields["env"])
    return _FileSpec(**fields)


# --- semantic checks -----------------------------------------------------------------------


def _check(spec: _FileSpec) -> list[Problem]:
    problems: list[Problem] = []
    if not spec.steps:
        problems.append(Problem(("steps",), "no steps: add at least one [steps.NAME] table"))
    if spec.max_concurrent is not None and spec.max_concurrent < 1:
        problems.append(Problem(("max_concurrent",), f"must be >= 1, got {spec.max_concurrent!r}"))
    if spec.failure not in FAILURE_POLICIES:
        choices = " or ".join(repr(p) for p in FAILURE_POLICIES)
        problems.append(Problem(("failure",), f"must be {choices}, got {spec.failure!r}"))
    for name, step in spec.steps.items():
        problems.extend(_check_step(name, step))
    problems.extend(_dependency_problems({n: s.depends_on for n, s in spec.steps.items()}))
    return problems


def _dependency_problems(graph: dict[str, list[str]]) -> list[Problem]:
    """Unknown dependencies and a cycle, in ``{step: [dependency, ...]}``."""
    problems = []
    for name, deps in graph.items():
        key = ("steps", name, "depends_on")
        for i, dep in enumerate(deps):
            if dep == name:
                problems.append(Problem((*key, i), f"step {name!r} depends on itself"))
            elif dep not in graph:
                import difflib  # only for a mistake's hint

                close = difflib.get_close_matches(dep, list(graph), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                problems.append(Problem((*key, i), f"unknown step {dep!r}{hint}"))
    known = {n: [d for d in deps if d in graph and d != n] for n, deps in graph.items()}
    cycle = _find_cycle(known)
    if cycle:
        path = " -> ".join([*cycle, cycle[0]])
        problems.append(Problem(("steps", cycle[0], "depends_on"), f"dependency cycle: {path}"))
    return problems


def _raw_graph(raw: dict[str, Any]) -> dict[str, list[str]]:
    """``{step: dependency names}`` from an unstructured file, ignoring what is malformed."""
    steps = raw.get("steps")
    if not isinstance(steps, dict):
        return {}
    graph: dict[str, list[str]] = {}
    for name, table in steps.items():
        deps = table.get("depends_on", []) if isinstance(table, dict) else []
        graph[name] = [d for d in deps if isinstance(d, str)] if isinstance(deps, list) else []
    return graph


_INF = float("inf")


def _check_step(name: str, step: StepSpec) -> list[Problem]:
    key = ("steps", name)
    problems = []
    if not name.strip():
        problems.append(Problem(key, "a step name must not be empty"))
    if isinstance(step.run, str) and not step.run.strip():
        problems.append(Problem((*key, "run"), "must not be empty"))
    for field in ("inputs", "outputs"):
        for i, pattern in enumerate(getattr(step, field)):
            if not pattern.strip():
                problems.append(Problem((*key, field, i), "must not be empty"))
            elif pattern.startswith("/") or ".." in pattern.split("/"):
                problems.append(
                    Problem(
                        (*key, field, i), f"must be relative to the step's cwd, got {pattern!r}"
                    )
                )
    if step.timeout is not None and not step.timeout > 0:
        problems.append(Problem((*key, "timeout"), f"must be > 0 seconds, got {step.timeout!r}"))
    if not step.weight > 0:
        problems.append(Problem((*key, "weight"), f"must be > 0, got {step.weight!r}"))
    elif step.weight == _INF:
        problems.append(Problem((*key, "weight"), f"must be finite, got {step.weight!r}"))
    if step.retry is not None:
        retry = step.retry
        if retry.attempts < 1:
            problems.append(
                Problem((*key, "retry", "attempts"), f"must be >= 1, got {retry.attempts!r}")
            )
        if not retry.delay >= 0:
            problems.append(
                Problem((*key, "retry", "delay"), f"must be >= 0 seconds, got {retry.delay!r}")
            )
        elif retry.delay == _INF:
            problems.append(
                Problem((*key, "retry", "delay"), f"must be finite, got {retry.delay!r}")
            )
        if not retry.backoff >= 1:
            problems.append(
                Problem((*key, "retry", "backoff"), f"must be >= 1, got {retry.backoff!r}")
            )
        elif retry.backoff == _INF:
            problems.append(
                Problem((*key, "retry", "backoff"), f"must be finite, got {retry.backoff!r}")
            )
    return problems


def _find_cycle(steps: dict[str, list[str]]) -> list[str]:
    """A dependency cycle as a list of step names, or ``[]``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for dep in steps[name]:
            if state.get(dep) == 1:
                return path[path.index(dep) :]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return []

    for name in steps:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return []


# --- lines ---------------------------------------------------------------------------------


def _locate(text: str, key: tuple[str | int, ...]) -> int | None:
    """The line (1-based) where ``key`` is set, found by scanning the TOML text; or None."""
    names = [k for k in key if isinstance(k, str)]
    if not names:
        return None
    lines = text.splitlines()
    headers: list[tuple[int, list[str]]] = []
    for i, line in enumerate(lines):
        match = re.match(r"\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$", line)
        if match:
            headers.append((i, _split_key(match.group(1))))
    # The deepest table header that is a prefix of the key, then the key's own line in it.
    best: tuple[int, int] | None = None  # (depth, line index)
    for i, parts in headers:
        if parts == names[: len(parts)] and (best is None or len(parts) > best[0]):
            best = (len(parts), i)
    depth, start = best if best is not None else (0, -1)
    end = next((i for i, _ in headers if i > start), len(lines))
    rest = names[depth:]
    if not rest:
        return start + 1 if start >= 0 else None
    dotted = r"\s*\.\s*".join(rf'(?:"{re.escape(n)}"|{re.escape(n)})' for n in rest[:1])
    for i in range(start + 1, end):
        if re.match(rf"\s*{dotted}\s*[=.]", lines[i]):
            return i + 1
    return start + 1 if start >= 0 else None


def _split_key(text: str) -> list[str]:
    parts = re.findall(r'"([^"]*)"|\'([^\']*)\'|([^.\s]+)', text)
    return [a or b or c for a, b, c in parts]


# --- entry points --------------------------------------------------------------------------


def parse_spec(text: str, path: Path) -> WorkflowSpec:
    """Parse and validate the workflow file ``text`` read from ``path``.

    Raises:
        SpecError: invalid TOML, unknown keys, wrong types, bad values, unknown dependencies,
            cycles; the message names the file, the line and the key.
    """
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        match = re.search(r"\(at line (\d+), column (\d+)\)$", message)
        line = column = None
        if match:
            line, column = int(match.group(1)), int(match.group(2))
            message = message[: match.start()].rstrip()
        raise SpecError(path, [Problem((), f"invalid TOML: {message}", line, column)]) from None
    if "steps" not in raw:
        raise SpecError(
            path, [Problem(("steps",), "no steps: add at least one [steps.NAME] table")]
        )
    spec = _fast_structure(raw)
    try:
        if spec is None:
            spec = _converter().structure(raw, _FileSpec)
    except Exception as exc:  # cattrs' error tree; anything else is a bug and would show
        problems = _problems_from(exc, ())
        # a type error elsewhere must not hide unknown dependencies or a cycle
        problems.extend(_dependency_problems(_raw_graph(raw)))
        raise SpecError(path, _with_lines(text, problems)) from None
    problems = _check(spec)
    if problems:
        raise SpecError(path, _with_lines(text, problems))
    base = path.resolve().parent
    # a repeated dependency means what it means to the library: the same dependency, once
    steps = {
        name: step
        if len(set(step.depends_on)) == len(step.depends_on)
        else attrs.evolve(step, depends_on=list(dict.fromkeys(step.depends_on)))
        for name, step in spec.steps.items()
    }
    return WorkflowSpec(
        path=path,
        name=spec.name or path.stem,
        max_concurrent=spec.max_concurrent,
        failure=spec.failure,
        cwd=base if spec.cwd is None else (base / spec.cwd).resolve(),
        env=spec.env,
        steps=steps,
    )


def _with_lines(text: str, problems: list[Problem]) -> list[Problem]:
    """The problems with their lines, in the order of the file (each reported once)."""
    located = [p.with_line(_locate(text, p.key)) for p in dict.fromkeys(problems)]
    return sorted(located, key=lambda p: 0 if p.line is None else p.line)


def find_workflow_file(start: Path) -> Path | None:
    """``trio-orch.toml`` in ``start`` or the nearest parent that has one; None if none has."""
    directory = start.resolve()
    for candidate in (directory, *directory.parents):
        path = candidate / DEFAULT_FILE
        if path.is_file():
            return path
    return None


def load_spec(path: Path) -> WorkflowSpec:
    """Read and validate the workflow file at ``path``.

    Raises:
        SpecError: the file cannot be read or is invalid (see :func:`parse_spec`).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise SpecError(path, [Problem((), f"cannot read the file: {reason}")]) from None
    return parse_spec(text, path)

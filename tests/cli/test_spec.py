"""Parsing and validating workflow files: every problem names the file, line, key and rule."""

from __future__ import annotations

from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trio_orch.cli._spec import (
    RetrySpec,
    SpecError,
    StepSpec,
    _converter,
    _fast_structure,
    _FileSpec,
    load_spec,
    parse_spec,
)

FILE = Path("wf.toml")


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        parse_spec(text, FILE)
    assert info.value.path == FILE
    return str(info.value).splitlines()


def test_a_valid_file() -> None:
    spec = parse_spec(
        """
name = "build"
max_concurrent = 2
failure = "continue"
env = { CI = "1" }
cwd = "sub"

[steps.lint]
run = "ruff check ."

[steps.test]
run = ["pytest", "-q"]
depends_on = ["lint"]
retry = { attempts = 3, delay = 0.5, backoff = 2 }
timeout = 60
env = { SEED = "0" }
cwd = "tests"
weight = 3
""",
        Path("/repo/wf.toml"),
    )
    assert (spec.name, spec.max_concurrent, spec.failure) == ("build", 2, "continue")
    assert spec.env == {"CI": "1"}
    assert spec.cwd == Path("/repo/sub")
    assert list(spec.steps) == ["lint", "test"]
    assert spec.steps["lint"] == StepSpec(run="ruff check .")
    test = spec.steps["test"]
    assert test.retry == RetrySpec(attempts=3, delay=0.5, backoff=2.0)
    assert (test.run, test.depends_on, test.timeout, test.weight) == (
        ["pytest", "-q"],
        ["lint"],
        60.0,
        3.0,
    )
    assert spec.step_cwd(test) == Path("/repo/sub/tests")


def test_defaults_and_retry_shorthand() -> None:
    spec = parse_spec('[steps.a]\nrun = "true"\nretry = 4\n', Path("/x/my-build.toml"))
    assert (spec.name, spec.max_concurrent, spec.failure, spec.cwd) == (
        "my-build",
        None,
        "fail-fast",
        Path("/x"),
    )
    assert spec.steps["a"].retry == RetrySpec(attempts=4)


def test_syntax_error_names_line_and_column() -> None:
    assert problems('[steps.a]\nrun = "echo\n') == [
        "wf.toml:2:12: invalid TOML: Illegal character '\\n'"
    ]


def test_unknown_keys_and_wrong_types_are_all_reported() -> None:
    text = """max_concurrent = "2"
colour = "blue"

[steps.a]
run = 3
retries = 2
timeout = "x"
depends_on = ["b", 4]
env = { X = 1 }
retry = { attempts = 1.5 }

[steps.b]
cwd = "."
"""
    assert problems(text) == [
        "wf.toml:1: max_concurrent: must be an integer, got a string ('2')",
        "wf.toml:2: colour: unknown key (expected one of: steps, name, max_concurrent, "
        "failure, cwd, env)",
        "wf.toml:5: steps.a.run: must be a string or a non-empty array of strings, "
        "got an integer (3)",
        "wf.toml:6: steps.a.retries: unknown key; did you mean 'retry'?",
        "wf.toml:7: steps.a.timeout: must be a number, got a string ('x')",
        "wf.toml:8: steps.a.depends_on[1]: must be a string, got an integer (4)",
        "wf.toml:9: steps.a.env.X: must be a string, got an integer (1)",
        "wf.toml:10: steps.a.retry.attempts: must be an integer, got a number (1.5)",
        "wf.toml:12: steps.b.run: is required but missing",
    ]


def test_bad_values_are_named() -> None:
    text = """failure = "stop"
max_concurrent = 0

[steps.a]
run = "true"
depends_on = ["tset", "a"]
timeout = -1
weight = 0
retry = { attempts = 0, delay = -1, backoff = 0.5 }

[steps.test]
run = "  "
"""
    assert problems(text) == [
        "wf.toml:1: failure: must be 'fail-fast' or 'continue', got 'stop'",
        "wf.toml:2: max_concurrent: must be >= 1, got 0",
        "wf.toml:6: steps.a.depends_on[0]: unknown step 'tset'; did you mean 'test'?",
        "wf.toml:6: steps.a.depends_on[1]: step 'a' depends on itself",
        "wf.toml:7: steps.a.timeout: must be > 0 seconds, got -1.0",
        "wf.toml:8: steps.a.weight: must be > 0, got 0.0",
        "wf.toml:9: steps.a.retry.attempts: must be >= 1, got 0",
        "wf.toml:9: steps.a.retry.delay: must be >= 0 seconds, got -1.0",
        "wf.toml:9: steps.a.retry.backoff: must be >= 1, got 0.5",
        "wf.toml:12: steps.test.run: must not be empty",
    ]


def test_infinite_values_are_named() -> None:
    text = """[steps.a]
run = "true"
weight = inf
retry = { attempts = 2, delay = inf, backoff = inf }
"""
    assert problems(text) == [
        "wf.toml:3: steps.a.weight: must be finite, got inf",
        "wf.toml:4: steps.a.retry.delay: must be finite, got inf",
        "wf.toml:4: steps.a.retry.backoff: must be finite, got inf",
    ]


def test_cycle_is_named() -> None:
    text = """[steps.a]
run = "true"
depends_on = ["c"]

[steps.b]
run = "true"
depends_on = ["a"]

[steps.c]
run = "true"
depends_on = ["b"]
"""
    assert problems(text) == ["wf.toml:3: steps.a.depends_on: dependency cycle: a -> c -> b -> a"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n', "wf.toml: steps: no steps: add at least one [steps.NAME] table"),
        ("[steps]\n", "wf.toml:1: steps: no steps: add at least one [steps.NAME] table"),
        ("steps = 3\n", "wf.toml:1: steps: must be a table, got an integer (3)"),
        ("[steps]\na = 3\n", "wf.toml:2: steps.a: must be a table, got an integer (3)"),
        (
            '[steps."odd name"]\nrun = "true"\nenv = []\n',
            'wf.toml:3: steps."odd name".env: must be a table, got an array',
        ),
        (
            '[steps.a]\nrun = "true"\ndepends_on = "b"\n',
            "wf.toml:3: steps.a.depends_on: must be an array, got a string ('b')",
        ),
        (
            '[steps.a]\nrun = "true"\nretry = "3"\n',
            "wf.toml:3: steps.a.retry: must be a table {attempts, delay, backoff} or an "
            "integer, got a string ('3')",
        ),
        (
            '[steps.a]\nrun = "true"\n[steps.a.retry]\nattempts = 2\nwait = 1\n',
            "wf.toml:5: steps.a.retry.wait: unknown key (expected one of: attempts, delay, "
            "backoff)",
        ),
    ],
)
def test_structure_problems(text: str, message: str) -> None:
    assert problems(text) == [message]


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SpecError, match=r"nope\.toml: cannot read the file: No such file"):
        load_spec(missing)


# --- the fast path: what cattrs would build, without cattrs ---------------------------------

_SCALARS = st.one_of(
    st.text(max_size=3),
    st.integers(-2, 3),
    st.floats(allow_nan=False, width=16),
    st.booleans(),
    st.just([1]),
    st.just({"x": 1}),
)
_STRINGS = st.lists(st.sampled_from(["a", "b", "c"]), max_size=3)
_NUMBER = st.one_of(st.integers(0, 3), st.floats(0.5, 4.0))
#: a valid value of each key of a step
_STEP_VALUES: dict[str, st.SearchStrategy[object]] = {
    "run": st.one_of(st.just("true"), st.lists(st.text(max_size=2), min_size=1, max_size=2)),
    "description": st.text(max_size=3),
    "depends_on": _STRINGS,
    "inputs": _STRINGS,
    "outputs": _STRINGS,
    "retry": st.one_of(
        st.integers(0, 3),
        st.fixed_dictionaries(
            {"attempts": st.integers(1, 3)},
            optional={"delay": _NUMBER, "backoff": _NUMBER},
        ),
    ),
    "timeout": _NUMBER,
    "env": st.dictionaries(st.sampled_from(["A", "B"]), st.text(max_size=2), max_size=2),
    "cwd": st.text(max_size=2),
    "weight": _NUMBER,
}
_FILE_VALUES: dict[str, st.SearchStrategy[object]] = {
    "name": st.text(max_size=3),
    "max_concurrent": st.integers(1, 4),
    "failure": st.sampled_from(["fail-fast", "continue"]),
    "cwd": st.text(max_size=2),
    "env": _STEP_VALUES["env"],
}
#: what may be wrong with a table: a key set to any value, a required key missing
_KEYS = st.sampled_from(
    ["run", "retry", "env", "depends_on", "timeout", "attempts", "delay", "colour", "steps"]
)


@st.composite
def _tables(
    draw: st.DrawFn, values: dict[str, st.SearchStrategy[object]], required: tuple[str, ...]
) -> dict[str, object]:
    """A valid table, or (one time in three) one with something wrong."""
    keys = draw(st.lists(st.sampled_from(sorted(set(values) - set(required))), unique=True))
    table = {key: draw(values[key]) for key in (*required, *keys)}
    if draw(st.integers(0, 2)) == 0:
        key = draw(_KEYS)
        if draw(st.booleans()):
            table.pop(key, None)
        else:
            table[key] = draw(_SCALARS)
    if "retry" in table and type(table["retry"]) is dict and draw(st.booleans()):
        table["retry"] = {**table["retry"], draw(_KEYS): draw(_SCALARS)}
    return table


_FILES = st.builds(
    lambda steps, rest: {"steps": steps, **rest},
    st.dictionaries(st.sampled_from(["a", "b"]), _tables(_STEP_VALUES, ("run",)), max_size=2),
    _tables(_FILE_VALUES, ()),
)


@settings(max_examples=200, deadline=None)
@given(_FILES)
def test_the_fast_path_builds_what_cattrs_builds(raw: dict[str, object]) -> None:
    fast = _fast_structure(raw)
    try:
        slow = _converter().structure(raw, _FileSpec)
    except Exception:  # cattrs' error tree: any error means "rejected"
        assert fast is None
        return
    if fast is not None:  # the fast path may leave a valid file to cattrs, never the reverse
        assert fast == slow
        for name, step in fast.steps.items():
            assert {k: type(v) for k, v in attrs.asdict(step, recurse=False).items()} == {
                k: type(v) for k, v in attrs.asdict(slow.steps[name], recurse=False).items()
            }


def test_a_valid_file_takes_the_fast_path() -> None:
    raw = {
        "name": "n",
        "max_concurrent": 2,
        "failure": "continue",
        "cwd": "x",
        "env": {"A": "1"},
        "steps": {
            "a": {
                "run": ["echo", "hi"],
                "description": "d",
                "depends_on": ["b"],
                "inputs": ["*.py"],
                "outputs": ["out"],
                "retry": {"attempts": 3, "delay": 1, "backoff": 2.5},
                "timeout": 5,
                "env": {"B": "2"},
                "cwd": "sub",
                "weight": 3,
            },
            "b": {"run": "true", "retry": 2},
        },
    }
    fast = _fast_structure(raw)
    assert fast is not None
    assert fast == _converter().structure(raw, _FileSpec)
    assert fast.steps["a"].retry == RetrySpec(3, 1.0, 2.5)
    assert type(fast.steps["a"].timeout) is float
    assert fast.steps["b"].retry == RetrySpec(2)


def test_a_repeated_dependency_counts_once() -> None:
    spec = parse_spec(
        '[steps.a]\nrun = "true"\n[steps.b]\nrun = "true"\ndepends_on = ["a", "a"]\n', FILE
    )
    assert spec.steps["b"].depends_on == ["a"]
    assert spec.steps["a"].depends_on == []

"""The sample project's tests, as a script (examples/build.toml's "test" step runs it)."""

from __future__ import annotations

from greet import greet

CASES = {"world": "Hello, world!", "Trio": "Hello, Trio!"}

for number, (name, expected) in enumerate(CASES.items(), start=1):
    assert greet(name) == expected, (name, greet(name))
    print(f"ok {number} - greet({name!r})")
    print(f"::progress {number / (len(CASES) + 1):.2f}")
try:
    greet("")
except ValueError:
    print(f"ok {len(CASES) + 1} - greet('') raises ValueError")
else:
    raise AssertionError("greet('') did not raise")

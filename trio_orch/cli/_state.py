"""Up-to-date steps: what a step looked like when it last succeeded, kept next to the file.

A step that declares ``inputs`` or ``outputs`` (globs, relative to its cwd) is *up to date*,
and is not run, when all of these hold:

* it succeeded before, with the same command, the same declared environment (the workflow's
  ``env``, the step's ``env`` and ``-e`` overrides; not the whole inherited environment) and the
  same working directory;
* the files its ``inputs`` match are the same files with the same contents (SHA-256);
* every ``outputs`` glob matches at least one existing file;
* none of its dependencies ran in this run.

A step that declares neither always runs (like a phony target of make).  The state lives in
``.<file name>.state.json`` next to the workflow file.  It is written atomically (a temporary
file in the same directory, flushed, then renamed over the old one), so a crash mid-write
leaves the previous state; an unreadable state file is ignored (every step runs).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from typing import TYPE_CHECKING, Any

import attrs

from trio_orch._lazy import LazyModule

if TYPE_CHECKING:
    import json
    from collections.abc import Mapping
    from pathlib import Path

    from trio_orch.cli._spec import StepSpec, WorkflowSpec
else:  # loaded on first use: only steps with inputs or outputs keep state
    json = LazyModule("json")

__all__ = ["Fingerprint", "StateFile", "fingerprint", "state_path", "stale_reason"]

_VERSION = 1


def state_path(spec: WorkflowSpec) -> Path:
    """``.<name>.state.json`` next to the workflow file."""
    path = spec.path.resolve()
    return path.parent / f".{path.name}.state.json"


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogateescape"))
        h.update(b"\0")
    return h.hexdigest()


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@attrs.frozen
class Fingerprint:
    """What a step looks like now (or looked like when it last succeeded)."""

    command: str
    env: str
    cwd: str
    inputs: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        return {"command": self.command, "env": self.env, "cwd": self.cwd, "inputs": self.inputs}

    @classmethod
    def from_json(cls, data: object) -> Fingerprint | None:
        if not isinstance(data, dict):
            return None
        try:
            inputs = data["inputs"]
            fields = (data["command"], data["env"], data["cwd"])
        except KeyError:
            return None
        if not all(isinstance(f, str) for f in fields) or not isinstance(inputs, dict):
            return None
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in inputs.items()):
            return None
        return cls(fields[0], fields[1], fields[2], dict(inputs))


def _matches(cwd: Path, patterns: list[str]) -> list[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        found.update(p for p in cwd.glob(pattern) if p.is_file())
    return sorted(found)


def fingerprint(step: StepSpec, cwd: Path, env: Mapping[str, str]) -> Fingerprint:
    """Hash what makes ``step`` what it is: command, declared env, cwd, input contents.

    Blocking (reads the input files): run it in a thread.
    """
    command = json.dumps(step.run)
    inputs = {str(p.relative_to(cwd)): _hash_file(p) for p in _matches(cwd, step.inputs)}
    return Fingerprint(
        command=_digest(command),
        env=_digest(*(f"{k}={v}" for k, v in sorted(env.items()))),
        cwd=str(cwd),
        inputs=inputs,
    )


def missing_outputs(step: StepSpec, cwd: Path) -> list[str]:
    """The ``outputs`` globs that match no existing file."""
    return [pattern for pattern in step.outputs if not _matches(cwd, [pattern])]


def stale_reason(
    step: StepSpec, cwd: Path, now: Fingerprint, before: Fingerprint | None
) -> str | None:
    """Why ``step`` must run, or None if it is up to date (dependencies aside)."""
    if not step.inputs and not step.outputs:
        return "it declares no inputs or outputs"
    if before is None:
        return "it has not succeeded before"
    if now.command != before.command:
        return "its command changed"
    if now.env != before.env:
        return "its environment changed"
    if now.cwd != before.cwd:
        return "its working directory changed"
    if now.inputs != before.inputs:
        changed = sorted(
            name
            for name in now.inputs.keys() | before.inputs.keys()
            if now.inputs.get(name) != before.inputs.get(name)
        )
        shown = ", ".join(changed[:3]) + (
            f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        )
        return f"inputs changed: {shown}"
    missing = missing_outputs(step, cwd)
    if missing:
        return f"outputs missing: {', '.join(missing)}"
    return None


@attrs.define(eq=False)
class StateFile:
    """The saved fingerprints of the steps' last successes.

    Attributes:
        path: where it lives.
        problem: why the file on disk could not be used (it is then treated as empty).
    """

    path: Path
    steps: dict[str, Fingerprint] = attrs.field(factory=dict)
    problem: str | None = None
    _dirty: bool = attrs.field(default=False, init=False)

    @classmethod
    def load(cls, path: Path) -> StateFile:
        """Read ``path``; a missing file is empty, an unreadable one is empty with a problem."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            return cls(path, problem=exc.strerror or str(exc))
        try:
            data = json.loads(raw)
        except ValueError:
            return cls(path, problem="it is not valid JSON")
        if not isinstance(data, dict) or data.get("version") != _VERSION:
            return cls(path, problem="it is not a trio-orch state file of this version")
        steps = {}
        raw_steps = data.get("steps")
        for name, entry in (raw_steps if isinstance(raw_steps, dict) else {}).items():
            found = Fingerprint.from_json(entry)
            if found is not None:
                steps[name] = found
        return cls(path, steps)

    def record(self, name: str, now: Fingerprint) -> None:
        """``name`` succeeded looking like ``now``."""
        self.steps[name] = now
        self._dirty = True

    def save(self) -> None:
        """Write the state atomically, if anything changed.

        Raises:
            OSError: the directory cannot be written.
        """
        if not self._dirty:
            return
        data = {
            "version": _VERSION,
            "steps": {name: fp.to_json() for name, fp in sorted(self.steps.items())},
        }
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(data, f, indent=1, sort_keys=True)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
        self._dirty = False

"""``trio-orch run`` side by side with ``make -j8``, and its output path.

Figures (each a fresh process, best of a few runs):

* 200 trivial steps (``true``) in a random DAG (each step after up to 2 earlier ones, seed
  fixed), 8 at a time: ``make -j8`` on a Makefile of the same graph against
  ``trio-orch run -j 8`` (output to a pipe; what the ``trio-orch`` script runs, in the
  directory of the file, as one runs make).  Target: within 3x make.  Also the same with a
  single step, and the difference: the per-step cost without interpreter start-up;
* output: ``seq 1 1000000`` through ``trio-orch run``, piped (target >= 200k lines/s; per CPU
  second of trio-orch and seq, less a one-step run's) and on a pseudo-terminal with the live
  display (target >= 50k lines/s; wall time less a one-step run's);
* display: 40 steps of ``sleep 1`` at once on a pseudo-terminal: CPU seconds that
  ``trio-orch`` itself used (``os.wait4``) per second of wall time (target <= 5 % of a core).

``make`` must be installed for the first figure (it is skipped otherwise).
"""

from __future__ import annotations

import fcntl
import os
import pty
import random
import resource
import select
import shutil
import site
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

import attrs

import trio_orch
from trio_orch.bench import Figure, measures

#: what the ``trio-orch`` script runs (its entry point, ``trio_orch.cli:console_main``), as
#: from a plain install: ``-S`` skips the ``.pth`` hooks of a development (editable) install,
#: which cost a plain install nothing but this one ~20 ms a start (``_env`` puts the
#: site-packages directories on ``PYTHONPATH`` instead)
CLI = [sys.executable, "-S", "-c", "from trio_orch.cli import console_main; console_main()", "run"]


def _graph(n: int, seed: int = 3) -> list[list[int]]:
    rng = random.Random(seed)
    return [sorted(rng.sample(range(i), min(i, rng.randint(0, 2)))) for i in range(n)]


def _write(directory: Path, graph: list[list[int]], command: str = "true") -> tuple[Path, Path]:
    toml = [
        f'[steps.s{i}]\nrun = "{command}"\ndepends_on = {[f"s{d}" for d in deps]!r}\n'.replace(
            "'", '"'
        )
        for i, deps in enumerate(graph)
    ]
    wf = directory / "bench.toml"
    wf.write_text("\n".join(toml))
    names = " ".join(f"s{i}" for i in range(len(graph)))
    rules = [f".PHONY: all {names}", f"all: {names}"]
    rules += [
        f"s{i}: {' '.join(f's{d}' for d in deps)}\n\t@{command}" for i, deps in enumerate(graph)
    ]
    makefile = directory / "Makefile"
    makefile.write_text("\n".join(rules) + "\n")
    return wf, makefile


#: bytecode cache for the measured processes (set by main): what an installed package has
_PYCACHE: list[str] = []


def _env() -> dict[str, str]:
    drop = ("FORCE_COLOR", "NO_COLOR", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    # the same trio_orch as this process's, installed or not, and its dependencies
    here = str(Path(trio_orch.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([here, *site.getsitepackages()])
    if _PYCACHE:
        env["PYTHONPYCACHEPREFIX"] = _PYCACHE[0]
    return env


def _best(argv: list[str], cwd: Path, repeat: int) -> float:
    return _best_with_cpu(argv, cwd, repeat)[0]


def _best_with_cpu(argv: list[str], cwd: Path, repeat: int) -> tuple[float, float]:
    """Best wall seconds and best CPU seconds (the process and its children) of ``argv``."""
    best = cpu = float("inf")
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, cwd=cwd, env=_env(), stdout=subprocess.DEVNULL, check=True)
        best = min(best, time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        cpu = min(cpu, used)
    return best, cpu


def _on_pty(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Run ``argv`` on a 40x200 pseudo-terminal, reading everything; (wall s, own CPU s)."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 200, 0, 0))
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, env=_env(), stdout=follower, stderr=follower)
    os.close(follower)
    while True:
        ready, _, _ = select.select([leader], [], [], 1.0)
        if ready:
            try:
                if not os.read(leader, 1 << 20):
                    break
            except OSError:
                break
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    os.close(leader)
    proc.returncode = 0
    return wall, usage.ru_utime + usage.ru_stime


def _spawn_figures(directory: Path, n: int, repeat: int) -> list[Figure]:
    figures = []
    wf, _ = _write(directory, _graph(n))
    one = directory / "one"
    one.mkdir()
    wf_one, _ = _write(one, _graph(1))
    ours, ours_cpu = _best_with_cpu([*CLI, str(wf), "-j", "8", "--force"], directory, repeat)
    ours_one, ours_one_cpu = _best_with_cpu([*CLI, str(wf_one), "--force"], one, repeat)
    figures.append(Figure(f"{n} trivial steps -j8: trio-orch run", ours, "s"))
    figures.append(Figure("1 trivial step: trio-orch run (start-up)", ours_one, "s"))
    make = shutil.which("make")
    if make is not None:
        theirs, theirs_cpu = _best_with_cpu([make, "-s", "-j8"], directory, repeat)
        theirs_one, theirs_one_cpu = _best_with_cpu([make, "-s"], one, repeat)
        figures.append(Figure(f"{n} trivial steps -j8: make -j8", theirs, "s"))
        figures.append(
            Figure(
                f"{n} steps -j8: trio-orch run vs make -j8",
                ours / theirs,
                "x",
                target="<= 3",
            )
        )
        per_ours = (ours - ours_one) / max(1, n - 1)
        per_theirs = (theirs - theirs_one) / max(1, n - 1)
        figures.append(Figure("per extra step: trio-orch run", per_ours * 1e3, "ms"))
        figures.append(Figure("per extra step: make -j8", per_theirs * 1e3, "ms"))
        figures.append(
            Figure(
                "per extra step, CPU: trio-orch run vs make -j8",
                (ours_cpu - ours_one_cpu) / max(1e-6, theirs_cpu - theirs_one_cpu),
                "x",
                target="<= 3",
            )
        )
    return figures


def _output_figures(directory: Path, lines: int, repeat: int) -> list[Figure]:
    """Lines/s through ``trio-orch run``: the run's time less that of a one-step run."""
    out = directory / "out"
    out.mkdir()
    wf = out / "seq.toml"
    wf.write_text(f'[steps.seq]\nrun = "seq 1 {lines}"\n')
    one = _write(out, _graph(1))[0]
    # CPU seconds (trio-orch and seq): stable on a busy machine, unlike a difference of walls
    base = _best_with_cpu([*CLI, str(one), "--force"], out, repeat)[1]
    piped = _best_with_cpu([*CLI, str(wf)], out, repeat)[1]
    base_tty = min(_on_pty([*CLI, str(one), "--force"], out)[0] for _ in range(repeat))
    tty = min(_on_pty([*CLI, str(wf)], out)[0] for _ in range(repeat))
    return [
        Figure(
            f"seq 1 {lines} piped (per CPU second)",
            lines / max(1e-3, piped - base),
            "lines/s",
            target=">= 200k",
        ),
        Figure(
            f"seq 1 {lines} on a terminal, live display",
            lines / max(1e-3, tty - base_tty),
            "lines/s",
            target=">= 50k",
        ),
    ]


def _display_figure(directory: Path, seconds: float) -> list[Figure]:
    disp = directory / "display"
    disp.mkdir()
    steps = "".join(f'[steps.s{i}]\nrun = "sleep {seconds}"\n' for i in range(40))
    wf = disp / "sleep.toml"
    wf.write_text(steps)
    wall, cpu = _on_pty([*CLI, str(wf)], disp)
    _, cpu_plain = _on_pty([*CLI, str(wf), "--no-progress"], disp)
    return [
        Figure(f"40 x sleep {seconds:g} on a terminal: wall", wall, "s"),
        Figure(
            "  display cost (CPU with bars - without, per wall s)",
            100 * max(0.0, cpu - cpu_plain) / wall,
            "% core",
            target="<= 5",
        ),
    ]


@measures(warmup=False)  # its warm-up is the first run, which fills the bytecode cache
def suite(quick: bool) -> list[Figure]:
    """Measure the figures; ``quick``: 20 steps against make only, without targets."""
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        directory = Path(tmp)
        _PYCACHE[:] = [str(directory / "pycache")]
        # one run to fill the bytecode cache (of every module a run imports), as an
        # installed package has it
        warm = directory / "warm"
        warm.mkdir()
        wf_warm = _write(warm, _graph(1))[0]
        subprocess.run(
            [*CLI, str(wf_warm)], cwd=warm, env=_env(), stdout=subprocess.DEVNULL, check=True
        )
        figures = _spawn_figures(directory, 20 if quick else 200, 1 if quick else 2)
        if quick:  # start-up outweighs 20 steps: the targets are for 200
            figures = [attrs.evolve(f, target=None) for f in figures]
        else:
            figures += _output_figures(directory, 1_000_000, 2)
            figures += _display_figure(directory, 3.0)
        _PYCACHE.clear()
    return figures

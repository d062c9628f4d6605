"""The Makefile's set-up rules, checked with ``make -n`` (nothing is installed or run).

A Python older than 3.11 is refused in one line naming the version; a ``.venv`` made by
another interpreter is recreated; ``make run`` installs the package alone and ``make test``
the test extras.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs make")


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _fake_python(path: Path, version: str, build: str) -> Path:
    """An executable that answers the Makefile's questions as another Python would."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        textwrap.dedent(
            f"""\
            #!{sys.executable}
            import sys
            code = sys.argv[-1]
            if "int(sys.version_info" in code:
                print(int(tuple(map(int, {version!r}.split(".")))[:2] >= (3, 11)))
            elif '"%d.%d.%d"' in code:
                print({version!r})
            else:
                print({build!r})
            """
        )
    )
    path.chmod(0o755)
    return path


def _make(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAKE")}
    return subprocess.run(
        ["make", "-n", *args],
        cwd=checkout,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_an_old_python_is_refused_in_one_line(checkout: Path) -> None:
    old = _fake_python(checkout / "bin" / "python3.10", "3.10.12", "3.10.12 (main)")
    for target in ("run", "test"):
        done = _make(checkout, target, f"PYTHON={old}")
        assert done.returncode != 0
        assert done.stdout == ""
        assert done.stderr.count("\n") == 1, done.stderr
        assert "trio_orch needs Python 3.11 or newer" in done.stderr
        assert f"{old} is Python 3.10.12" in done.stderr


def test_a_missing_python_is_refused_in_one_line(checkout: Path) -> None:
    done = _make(checkout, "run", "PYTHON=/nonexistent/python3")
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1, done.stderr
    assert "/nonexistent/python3 is not found" in done.stderr


def test_clean_needs_no_python(checkout: Path) -> None:
    done = _make(checkout, "clean", "PYTHON=/nonexistent/python3")
    assert done.returncode == 0, done.stderr
    assert "rm -rf .venv" in done.stdout


def test_a_fresh_checkout_creates_the_venv_and_installs_the_package_alone(
    checkout: Path,
) -> None:
    done = _make(checkout, "run", f"PYTHON={sys.executable}")
    assert done.returncode == 0, done.stderr
    assert "-m venv --clear .venv" in done.stdout
    assert "install --quiet --disable-pip-version-check -e ." in done.stdout
    assert "[test" not in done.stdout
    assert "trio-orch run examples/build.toml" in done.stdout


def test_make_test_installs_the_test_extras(checkout: Path) -> None:
    done = _make(checkout, "pytest", f"PYTHON={sys.executable}")
    assert done.returncode == 0, done.stderr
    assert "-e '.[test,bench" in done.stdout


def _venv(checkout: Path, version: str, build: str) -> None:
    _fake_python(checkout / ".venv" / "bin" / "python", version, build)
    (checkout / ".venv" / "pyvenv.cfg").write_text("home = /elsewhere\n")
    for stamp in (".installed", ".installed-run"):
        (checkout / ".venv" / stamp).touch()


def test_a_venv_made_by_another_interpreter_is_recreated(checkout: Path) -> None:
    _venv(checkout, "3.12.1", "/elsewhere/python3.12 3.12.1 (main, Jan 1 2024)")
    done = _make(checkout, "run", f"PYTHON={sys.executable}")
    assert done.returncode == 0, done.stderr
    assert "-m venv --clear .venv" in done.stdout


def test_a_venv_made_by_this_interpreter_is_reused(checkout: Path) -> None:
    build = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; print(os.path.realpath(sys._base_executable), sys.version)",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    _venv(checkout, "3.11.0", build)
    done = _make(checkout, "run", f"PYTHON={sys.executable}")
    assert done.returncode == 0, done.stderr
    assert "-m venv" not in done.stdout
    assert "pip" not in done.stdout
    assert done.stdout.strip() == ".venv/bin/trio-orch run examples/build.toml"

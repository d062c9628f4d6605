"""Argument parsing and dispatch for the ``trio-orch`` command."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from trio_orch.cli import _bench, _run

if TYPE_CHECKING:
    from collections.abc import Sequence


def build_parser() -> argparse.ArgumentParser:
    """The ``trio-orch`` parser with one sub-command per verb."""
    parser = argparse.ArgumentParser(
        prog="trio-orch", description="Trio-native orchestration from the command line."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _run.add_parser(commands)
    _bench.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (default: ``sys.argv[1:]``); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    status: int = args.handler(args)
    return status

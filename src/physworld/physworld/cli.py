"""``physworld`` command line. Subcommands come from ``physworld/cli_<topic>.py`` modules, each with
``register(subparsers)``; heavy imports happen inside the commands so ``--help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys

from . import __version__
from .errors import PhysWorldError

# Order = order in --help. A topic module that is not there yet is skipped; one that is there but
# fails to import is an error (never hidden).
TOPICS = ["cli_info", "cli_video", "cli_reconstruct", "cli_policy", "cli_worldmodel", "cli_ros", "cli_bag"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="physworld",
        description="PhysWorld: one RGB-D image + a task command -> generated video -> physical world model "
        "-> residual RL -> arm actions.",
    )
    parser.add_argument("--version", action="version", version=f"physworld {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for topic in TOPICS:
        if importlib.util.find_spec(f"physworld.{topic}") is None:
            continue
        importlib.import_module(f"physworld.{topic}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except PhysWorldError as exc:
        print(f"physworld {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"physworld {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

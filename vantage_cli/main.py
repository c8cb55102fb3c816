"""Entry point of ``vantage-cli``."""

from __future__ import annotations

import argparse
import sys

from vantage_cli import validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vantage-cli",
        description="Build, package and check Panorama-compatible applications for Vantage.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    validate.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())

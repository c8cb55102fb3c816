"""Entry point of ``vantage-cli``."""

from __future__ import annotations

import argparse
import os
import sys

from vantage_cli import __version__, build, models, packaging, scaffold, validate
from vantage_cli.errors import CliError


def build_parser(prog: str = "vantage-cli") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Build, package and check Panorama-compatible applications for Vantage. "
        "The commands and arguments are panorama-cli's; run them in the application folder.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scaffold.add_parsers(sub)
    build.add_parsers(sub)
    packaging.add_parsers(sub)
    models.add_parsers(sub)
    validate.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    # Also installed as panorama-cli, so that customers' build scripts run unchanged.
    called = os.path.basename(sys.argv[0]) if argv is None else ""
    prog = called if called in ("vantage-cli", "panorama-cli") else "vantage-cli"
    args = build_parser(prog).parse_args(argv)
    try:
        return args.handler(args)
    except CliError as error:
        sys.stdout.flush()
        print(f"{prog} {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog} {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

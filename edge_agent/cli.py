"""The command line: ``python -m edge_agent run|status|reset|bundle|version`` (docs/agent.md)."""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
from pathlib import Path

import edge_agent
from edge_agent.config import (
    DEFAULT_DATA_DIR,
    DEFAULT_USB_DIR,
    ENV_BACKOFF_BASE_S,
    ENV_BACKOFF_CAP_S,
    ENV_DATA_DIR,
    ENV_LOG_LEVEL,
    ENV_NETWORK_APPLIER,
    ENV_REBOOT_COMMAND,
    ENV_USB_DIR,
    AgentPaths,
)


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


def _seconds(name: str, default: float) -> float:
    try:
        return max(0.01, float(os.environ.get(name) or default))
    except ValueError:
        return default


def _add_data_dir(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(_env(ENV_DATA_DIR, DEFAULT_DATA_DIR)),
        help=f"where the agent keeps its identity, key, outbox, logs and software "
        f"(env {ENV_DATA_DIR}; default {DEFAULT_DATA_DIR})",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m edge_agent",
        description="The Vantage edge agent: provisions an appliance from its USB archive and "
        "keeps its link to the Vantage console.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="run the agent (provision, then keep the link)")
    run.add_argument(
        "--usb-dir",
        type=Path,
        default=Path(_env(ENV_USB_DIR, DEFAULT_USB_DIR)),
        help=f"the USB drive: configuration archive at its root, logs under panorama/ "
        f"(env {ENV_USB_DIR}; default {DEFAULT_USB_DIR})",
    )
    _add_data_dir(run)
    run.add_argument(
        "--reboot-command",
        default=_env(ENV_REBOOT_COMMAND, ""),
        help=f"command that restarts the appliance for REBOOT and OTA jobs, e.g. "
        f"'systemctl reboot' (env {ENV_REBOOT_COMMAND}; default empty: development mode, "
        "the agent re-executes itself)",
    )
    run.add_argument(
        "--network-applier",
        choices=["dry-run", "networkmanager"],
        default=_env(ENV_NETWORK_APPLIER, "dry-run"),
        help=f"how the archive's network settings are applied: dry-run only logs them, "
        f"networkmanager runs nmcli (env {ENV_NETWORK_APPLIER}; default dry-run)",
    )
    run.add_argument(
        "--log-level",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        default=_env(ENV_LOG_LEVEL, "INFO").upper(),
        help=f"(env {ENV_LOG_LEVEL}; default INFO)",
    )

    status = commands.add_parser("status", help="show provisioning, link and software state")
    _add_data_dir(status)
    status.add_argument("--json", action="store_true", help="print it as JSON")

    reset = commands.add_parser(
        "reset", help="reinstall the current software, or (--full) wipe the appliance"
    )
    _add_data_dir(reset)
    reset.add_argument(
        "--full",
        action="store_true",
        help="remove credentials, applications, logs, outbox and configuration: everything "
        "under the data directory",
    )

    bundle = commands.add_parser("bundle", help="build a release bundle of this agent's code")
    bundle.add_argument("--version", required=True, help="the release's version, X.Y.Z")
    bundle.add_argument("-o", "--output", type=Path, required=True, help="the .tar.gz to write")
    bundle.add_argument("--notes", default="", help="release notes kept in the bundle")

    version = commands.add_parser("version", help="print the version that runs, and from where")
    _add_data_dir(version)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    argv = list(sys.argv[1:] if argv is None else argv)
    if args.command == "run":
        from edge_agent.agent import RunOptions, run

        return run(
            RunOptions(
                usb_dir=args.usb_dir,
                data_dir=args.data_dir,
                reboot_command=args.reboot_command,
                network_applier=args.network_applier,
                log_level=args.log_level,
                argv=argv,
                backoff_base_s=_seconds(ENV_BACKOFF_BASE_S, 1.0),
                backoff_cap_s=_seconds(ENV_BACKOFF_CAP_S, 60.0),
            )
        )
    if args.command == "status":
        from edge_agent.status import print_status

        return print_status(AgentPaths(args.data_dir), args.json)
    if args.command == "reset":
        from edge_agent.reset import full_reset, soft_reset

        paths = AgentPaths(args.data_dir)
        return full_reset(paths) if args.full else soft_reset(paths)
    if args.command == "bundle":
        return build_release(args.version, args.output, args.notes)
    print(f"{edge_agent.__version__} {Path(edge_agent.__file__).resolve().parent}")
    return 0


def build_release(version: str, output: Path, notes: str) -> int:
    from devicelink.releases import build_bundle

    source_root = Path(edge_agent.__file__).resolve().parent.parent
    try:
        data = build_bundle(source_root, version, notes=notes)
    except ValueError as exc:
        print(f"Cannot build the bundle: {exc}")
        return 2
    output.write_bytes(data)
    print(
        f"Wrote {output}: agent release {version}, {len(data)} bytes, sha256 "
        f"{hashlib.sha256(data).hexdigest()}. Upload it on the console's software page."
    )
    return 0

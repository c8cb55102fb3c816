"""``vantage-cli validate PATH…``: check manifest files offline, every error at once."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from manifests import detect_kind, validate_document
from vantage_cli.project import find_project_root, project_packages


def _json_files(paths: list[Path]) -> list[tuple[Path, bool]]:
    """(file, named explicitly); files found in folders may be other JSON (class lists, …)."""
    files: list[tuple[Path, bool]] = []
    for path in paths:
        if path.is_dir():
            files.extend((p, False) for p in sorted(path.rglob("*.json")) if p.is_file())
        else:
            files.append((path, True))
    return files


def _check(path: Path, explicit: bool, out) -> int | None:
    """Validate one file and print its errors; the count, or None for a skipped file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        print(f"{path}: cannot read: {exc.strerror}", file=out)
        return 1
    try:
        document = json.loads(raw)
    except ValueError:
        document = None
    kind = detect_kind(document) if document is not None else None
    if document is not None and kind is None:
        if not explicit:
            return None
        print(
            f"{path}: not a graph, override, package.json or descriptor "
            "(expected a top-level nodeGraph, nodeGraphOverrides, nodePackage, "
            "mlModelDescriptor or runtimeDescriptor)",
            file=out,
        )
        return 1
    root = find_project_root(path)
    packages = project_packages(root) if root else None
    errors = validate_document(raw, packages=packages, raw=raw.decode("utf-8", "replace"))
    label = kind.value if kind else "document"
    if not errors:
        print(f"{path}: valid {label}", file=out)
        return 0
    for error in errors:
        where = error.path or "(document)"
        hint = f" — {error.hint}" if error.hint else ""
        print(f"{path}: {where}: {error.message}{hint}", file=out)
    return len(errors)


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "validate",
        help="check graph, override, package.json and descriptor files offline",
        description="Check manifest files without a console. The kind of each file is "
        "recognised from its content; a folder is searched for .json files. Inside a "
        "panorama-cli project, graphs are checked against the project's packages. Every error "
        "is printed with its JSON pointer. Exits 1 when any file is invalid.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    files = _json_files(args.paths)
    if not files:
        print("no .json files found in the given paths", file=sys.stderr)
        return 1
    results = [_check(path, explicit, sys.stdout) for path, explicit in files]
    checked = [count for count in results if count is not None]
    failed = sum(1 for count in checked if count)
    skipped = len(results) - len(checked)
    note = f"; {skipped} other JSON file(s) skipped" if skipped else ""
    print(f"{len(checked) - failed} valid, {failed} invalid{note}")
    return 1 if failed else 0

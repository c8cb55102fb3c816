"""``package-application``: check every package offline, upload missing assets, register.

Nothing is uploaded until every selected package.json and descriptor is valid and every file
they name is in assets/. Assets the console has already (``HEAD /api/assets/<sha>/``) are not
sent again, and registering the same package.json bytes again is a no-op on the console, so a
second run uploads nothing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from manifests import ValidationError, validate_descriptor, validate_package
from vantage_cli.client import Console, ConsoleError, format_error, human_size
from vantage_cli.config import load_settings
from vantage_cli.errors import CliError
from vantage_cli.project import App, is_package_dir, package_account, package_name

ASSET_URI = re.compile(r"^(?P<sha>[0-9a-f]{64})\.[A-Za-z0-9.]+$")


@dataclass
class Plan:
    """One package, checked and ready to upload: its files are ``(uri, sha256, path)``."""

    folder: Path
    name: str
    version: str
    manifest: str
    patch: str
    files: list[tuple[str, str, Path]] = field(default_factory=list)


@dataclass
class Tally:
    uploaded: int = 0
    skipped: int = 0
    new: int = 0
    existing: int = 0
    seen: set[str] = field(default_factory=set)


def _selected(app: App, paths: list[str]) -> list[Path]:
    if not paths:
        return app.package_dirs()
    folders = []
    for given in paths:
        folder = app.packages / Path(given.rstrip("/\\")).name
        if not folder.is_dir():
            raise CliError(
                f"--packages-path {given}: no such folder {folder.relative_to(app.root)}"
            )
        folders.append(folder)
    return folders


def _items(parent: dict[str, Any], key: str) -> list[tuple[int, dict[str, Any]]]:
    """The objects in ``parent[key]`` with their index, whatever else a broken file holds."""
    items = parent.get(key)
    if not isinstance(items, list):
        return []
    return [(index, item) for index, item in enumerate(items) if isinstance(item, dict)]


def _check_files(
    app: App, document: dict[str, Any], plan: Plan, report: list[tuple[Path, ValidationError]]
) -> None:
    """The asset and descriptor files package.json names: present, and descriptors valid."""
    package_json = plan.folder / "package.json"
    for a, asset in _items(document["nodePackage"], "assets"):
        for i, implementation in _items(asset, "implementations"):
            if implementation.get("type") == "system":
                continue
            for key in ("assetUri", "descriptorUri"):
                uri = implementation.get(key)
                if not isinstance(uri, str):
                    continue  # validate_package reports it
                pointer = f"/nodePackage/assets/{a}/implementations/{i}/{key}"
                match = ASSET_URI.match(uri)
                path = app.assets / uri
                if not match:
                    message = f"{uri!r} is not named <sha256>.<extension>"
                    hint = "build-container and add-raw-model name the files in assets/"
                    report.append((package_json, ValidationError(pointer, message, hint)))
                elif not path.is_file():
                    message = f"assets/{uri} does not exist"
                    hint = "run build-container or add-raw-model again to make it"
                    report.append((package_json, ValidationError(pointer, message, hint)))
                else:
                    if key == "descriptorUri":
                        report += [(path, e) for e in validate_descriptor(path.read_bytes())]
                    if all(uri != known for known, _sha, _path in plan.files):
                        plan.files.append((uri, match["sha"], path))


def check_package(
    app: App, folder: Path, report: list[tuple[Path, ValidationError]]
) -> Plan | None:
    """Validate one package offline; problems go to ``report``; the plan when it is valid."""
    path = folder / "package.json"
    if not path.is_file():
        report.append((path, ValidationError("", "no such file", "every package has one")))
        return None
    raw = path.read_bytes()
    before = len(report)
    report += [(path, error) for error in validate_package(raw)]
    try:
        document = json.loads(raw)
    except ValueError:
        return None  # reported by validate_package
    body = document.get("nodePackage") if isinstance(document, dict) else None
    if not isinstance(body, dict):
        return None
    name = package_name(folder)
    if body.get("name", name) != name:
        message = f"package.json says name {body['name']!r}, but its folder makes it {name!r}"
        hint = "the folder is named <account>-<name>-<version>; make the two agree"
        report.append((path, ValidationError("/nodePackage/name", message, hint)))
    plan = Plan(
        folder=folder,
        name=name,
        version=str(body.get("version", "1.0")),
        manifest=raw.decode("utf-8", "replace"),
        patch=hashlib.sha256(raw).hexdigest(),
    )
    _check_files(app, document, plan, report)
    interfaces = [i for _index, i in _items(body, "interfaces")]
    if not body.get("assets") and any(i.get("asset") for i in interfaces):
        print(
            f"warning: {path.relative_to(app.root)}: its interfaces name assets, but it lists "
            "none (run build-container or add-raw-model first?)",
            file=sys.stderr,
        )
    return plan if len(report) == before else None


def _previous_latest(console: Console, plan: Plan) -> tuple[int, str] | None:
    """(package id, patch) of the version's latest patch, when it is another one."""
    for package in console.packages(plan.name):
        for patch in package.get("patches", []):
            if (
                patch.get("version") == plan.version
                and patch.get("is_latest")
                and patch.get("patch") != plan.patch
                and patch.get("status", "REGISTER_COMPLETED") == "REGISTER_COMPLETED"
            ):
                return package["id"], patch["patch"]
    return None


def _check_limits(console: Console, missing: list[tuple[str, str, Path]]) -> None:
    """The console refuses an asset over its limits before reading it, and closes the
    connection: the upload would end in "Connection reset by peer" instead of its 413. So the
    files are checked against them first, and nothing is sent when one is over."""
    limit, quota_left = console.asset_limits()
    for uri, _sha, path in missing:
        size = path.stat().st_size
        if limit is not None and size > limit:
            raise ConsoleError(
                f"{uri} is {human_size(size)}; the console takes assets of at most "
                f"{human_size(limit)} (its ASSET_MAX_MIB). Nothing was uploaded."
            )
    total = sum(path.stat().st_size for _uri, _sha, path in missing)
    if quota_left is not None and total > quota_left:
        raise ConsoleError(
            f"The assets to upload take {human_size(total)}; the console's asset store has "
            f"{human_size(quota_left)} left of its quota (ASSET_QUOTA_GIB). Nothing was uploaded."
        )


def _upload(console: Console, plan: Plan, tally: Tally) -> None:
    missing = []
    for uri, sha, path in plan.files:
        if sha in tally.seen:
            continue
        tally.seen.add(sha)
        if console.asset_exists(sha):
            print(f"  Skipped {uri}: the console has it already")
            tally.skipped += 1
            continue
        missing.append((uri, sha, path))
    _check_limits(console, missing)
    for uri, sha, path in missing:
        console.upload_asset(path, sha, filename=uri)
        print(f"  Uploaded {uri} ({path.stat().st_size} bytes)")
        tally.uploaded += 1


def publish(console: Console, plan: Plan, tally: Tally) -> bool:
    """Upload, register and retire the previous latest patch; False when the console refused."""
    print(f"Package {plan.name} version {plan.version} patch version {plan.patch}")
    previous = _previous_latest(console, plan)
    _upload(console, plan, tally)
    answer = console.register(plan.name, plan.version, plan.manifest)
    if answer.status == 400:
        where = f"packages/{plan.folder.name}/package.json"
        print(f"The console refused {where}:")
        errors = answer.body.get("errors", []) if isinstance(answer.body, dict) else []
        for error in errors or [answer.body]:
            print(f"{where}: {format_error(error)}")
        return False
    registered = answer.body.get("patch") if isinstance(answer.body, dict) else None
    if registered != plan.patch:
        raise CliError(
            f"the console registered patch {registered!r}, not {plan.patch}: package.json "
            "was changed on the way"
        )
    if answer.status == 201:
        print(f"  Registered {plan.name} {plan.version} patch version {plan.patch}")
        tally.new += 1
    else:
        print(f"  Patch version {plan.patch} already registered")
        tally.existing += 1
    if previous:
        package_id, old_patch = previous
        retired = console.deregister(package_id, plan.version, old_patch)
        if retired.status == 409:
            detail = retired.body.get("detail") if isinstance(retired.body, dict) else retired.body
            print(f"  Kept the previous patch version {old_patch}: {detail}")
        elif retired.status == 404:
            print(f"  The previous patch version {old_patch} is gone already")
        else:
            print(f"  Deregistered the previous latest patch version {old_patch}")
    return True


def package_application(args: argparse.Namespace) -> int:
    app = App.here()
    report: list[tuple[Path, ValidationError]] = []
    plans: list[Plan] = []
    for folder in _selected(app, args.packages_path):
        if not is_package_dir(folder.name):
            print(f"{folder.relative_to(app.root)} is not a package, ignoring")
            continue
        plan = check_package(app, folder, report)
        if plan:
            plans.append(plan)
    if report:
        for path, error in report:
            print(f"{path.relative_to(app.root)}: {error}")
        print(
            f"{len(report)} error(s): nothing was uploaded. "
            "Fix them and run package-application again."
        )
        return 1
    if not plans:
        print("No packages to upload in packages/")
        return 0
    console = load_settings().console()
    account = console.account_id()
    for plan in plans:
        if package_account(plan.folder) != account:
            print(
                f"warning: packages/{plan.folder.name} is named for account "
                f"{package_account(plan.folder)}, but this console's account is {account}: "
                "run `vantage-cli import-application` so the graph names the right packages",
                file=sys.stderr,
            )
    tally = Tally()
    for plan in plans:
        if not publish(console, plan, tally):
            return 1
    print(
        f"{len(plans)} package(s) registered ({tally.new} new, {tally.existing} already "
        f"registered); {tally.uploaded} file(s) uploaded, {tally.skipped} already on the console"
    )
    print("All packages uploaded and registered successfully")
    return 0


def add_parsers(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "package-application",
        help="upload the application's assets and register its packages on the console",
        description="Check every package.json and descriptor first (nothing is uploaded while "
        "any is invalid), then for each package: upload the assets the console does not have, "
        "register package.json as a patch version (its sha256) marked latest, and deregister "
        "the version's previous latest patch. Run in the application folder. The console and "
        "token come from VANTAGE_URL / VANTAGE_TOKEN or ~/.config/vantage/cli.toml.",
    )
    parser.add_argument(
        "--packages-path",
        nargs="+",
        action="extend",  # a repeated --packages-path adds to the list, never replaces it
        default=[],
        help="package folders to upload (default: every folder in packages/)",
    )
    parser.set_defaults(handler=package_application)

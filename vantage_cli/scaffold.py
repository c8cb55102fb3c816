"""``init-project``, ``create-package``, ``add-panorama-package`` and ``import-application``."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from vantage_cli import templates
from vantage_cli.config import account_id, load_settings
from vantage_cli.errors import CliError
from vantage_cli.project import (
    App,
    is_package_dir,
    package_account,
    write_json,
    write_text,
)

PACKAGE_TYPES = ("Container", "Model", "Camera", "Datasink")
NAME = re.compile(r"^[a-z_A-Z0-9\-]+$")
VERSION = re.compile(r"^[0-9]+\.[0-9]+$")


def _check_name(name: str, what: str) -> None:
    if not NAME.match(name) or len(name) > 128:
        raise CliError(f"{what} {name!r}: use 1 to 128 letters, digits, '_' and '-'")


# --- init-project -----------------------------------------------------------------------------


def init_project(args: argparse.Namespace) -> int:
    _check_name(args.name, "application name")
    project = Path.cwd() / args.name
    if project.exists():
        print(f"Application {args.name} already exists")
        return 0
    for folder in ("assets", "packages", f"graphs/{args.name}"):
        (project / folder).mkdir(parents=True)
    write_json(project / "graphs" / args.name / "graph.json", templates.graph_skeleton())
    print(f"Successfully created the project skeleton at {project}")
    return 0


# --- create-package ---------------------------------------------------------------------------


def create_package(args: argparse.Namespace) -> int:
    app = App.here()
    kind = "Camera" if args.camera else "Model" if args.model else args.type
    _check_name(args.name, "package name")
    if not VERSION.match(args.version):
        raise CliError(
            f"--version {args.version!r}: a package version is <major>.<minor>, e.g. 1.0"
        )
    account = account_id(load_settings())
    folder = app.packages / f"{account}-{args.name}-{args.version}"
    if folder.exists():
        print(f"Package {args.name} already exists")
        return 0
    graph_path, graph = app.read_graph()  # fail before creating anything
    folder.mkdir()
    if kind == "Camera":
        write_json(folder / "package.json", templates.camera_package(args.name, args.version))
    elif kind == "Datasink":
        write_json(folder / "package.json", templates.datasink_package(args.name, args.version))
    elif kind == "Model":
        write_json(folder / "package.json", templates.package_skeleton(args.name, args.version))
        write_json(folder / "descriptor.json", templates.model_descriptor())
    else:
        (folder / "src").mkdir()
        write_json(folder / "descriptor.json", templates.runtime_descriptor())
        write_json(folder / "package.json", templates.package_skeleton(args.name, args.version))
        write_text(folder / "Dockerfile", templates.DOCKERFILE)
    entry = {"name": f"{account}::{args.name}", "version": args.version}
    packages = graph["nodeGraph"].setdefault("packages", [])
    if entry not in packages:
        packages.append(entry)
        write_json(graph_path, graph)
    if kind == "Camera":
        app.add_graph_node(args.name, f"{account}::{args.name}.rtsp_interface")
    elif kind == "Datasink":
        app.add_graph_node(args.name, f"{account}::{args.name}.sink_interface")
    print(f"Successfully created package {args.name} at {folder.relative_to(app.root)}")
    return 0


# --- add-panorama-package ---------------------------------------------------------------------


def add_panorama_package(args: argparse.Namespace) -> int:
    app = App.here()
    graph_path, graph = app.read_graph()
    body = graph["nodeGraph"]
    if args.type == "camera":
        package, node = templates.ABSTRACT_CAMERA, templates.abstract_camera_node(args.name)
    else:
        package, node = templates.HDMI_SINK, templates.data_sink_node(args.name)
    nodes = body.setdefault("nodes", [])
    if any(isinstance(n, dict) and n.get("name") == args.name for n in nodes):
        print(f"Package {args.name} already exists")
        return 0
    packages = body.setdefault("packages", [])
    if not any(p.get("name") == package and p.get("version") == "1.0" for p in packages):
        packages.append({"name": package, "version": "1.0"})
    nodes.append(node)
    write_json(graph_path, graph)
    print(f"Added node {args.name} ({node['interface']}) to {graph_path.relative_to(app.root)}")
    return 0


# --- import-application -----------------------------------------------------------------------


def import_application(args: argparse.Namespace) -> int:
    app = App.here()
    app.read_graph()  # fail before asking the console
    # Always the console's own account ID (VANTAGE_ACCOUNT_ID is for offline create-package).
    account = load_settings().console().account_id()
    print(f"Account ID of this console: {account}")
    import_into_account(app, account)
    print("Successfully imported application")
    return 0


def import_into_account(app: App, account: str) -> None:
    """Rename the package folders and rewrite graph.json for ``account`` (the console's own
    loader of sample applications uses this too)."""
    graph_path, graph = app.read_graph()
    moves: list[tuple[Path, Path]] = []
    for folder in app.package_dirs():
        if not is_package_dir(folder.name):
            continue
        old = package_account(folder)
        target = folder.with_name(account + folder.name[len(old) :])
        if target != folder:
            if target.exists() or target in [t for _f, t in moves]:
                raise CliError(f"cannot rename {folder.name} to {target.name}: it exists already")
            moves.append((folder, target))
    for folder, target in moves:
        folder.rename(target)
        print(f"Renamed packages/{folder.name} to packages/{target.name}")
    body = graph["nodeGraph"]
    old_accounts: set[str] = set()
    for package in body.get("packages", []):
        prefix, sep, rest = str(package.get("name", "")).partition("::")
        if sep and prefix != "panorama":
            old_accounts.add(prefix)
            package["name"] = f"{account}::{rest}"
    for node in body.get("nodes", []):
        prefix, sep, rest = str(node.get("interface", "")).partition("::")
        if sep and prefix in old_accounts:
            node["interface"] = f"{account}::{rest}"
    write_json(graph_path, graph)
    print(f"Updated {graph_path.relative_to(app.root)} (override files are left as they are)")


# --- the parsers ------------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "init-project",
        help="create an application folder: assets/, packages/, graphs/NAME/graph.json",
        description="Create the folder NAME in the current directory with assets/, packages/ "
        "and graphs/NAME/graph.json (an empty graph). Does nothing if NAME exists.",
    )
    parser.add_argument("--name", required=True, help="name of the application (and its folder)")
    parser.set_defaults(handler=init_project)

    parser = sub.add_parser(
        "create-package",
        help="add a package folder to the application and its graph",
        description="Create packages/<account>-NAME-VERSION/ and add <account>::NAME to the "
        "graph's packages. Container: src/, Dockerfile, descriptor.json, package.json. Model: "
        "package.json and a model descriptor.json. Camera and Datasink: a package.json with a "
        "system asset, and a graph node NAME. The account ID comes from the console (or "
        "VANTAGE_ACCOUNT_ID). Run in the application folder.",
    )
    parser.add_argument("--name", required=True, help="name of the package")
    parser.add_argument(
        "--type", default="Container", choices=PACKAGE_TYPES, help="type of the package"
    )
    parser.add_argument("--version", default="1.0", help="version of the package (default 1.0)")
    parser.add_argument("-camera", action="store_true", help="same as --type Camera")
    parser.add_argument("-model", action="store_true", help="same as --type Model")
    parser.set_defaults(handler=create_package)

    parser = sub.add_parser(
        "add-panorama-package",
        help="add a stock camera or HDMI output node to the graph",
        description="camera: adds package panorama::abstract_rtsp_media_source 1.0 and an "
        "overridable camera node NAME. data_sink: adds panorama::hdmi_data_sink 1.0 and node "
        "NAME (interface hdmi0). A node called NAME already in the graph leaves it unchanged.",
    )
    parser.add_argument("--type", required=True, choices=("camera", "data_sink"))
    parser.add_argument("--name", required=True, help="name of the graph node")
    parser.set_defaults(handler=add_panorama_package)

    parser = sub.add_parser(
        "import-application",
        help="move an application made in another account to this console's account",
        description="Rename packages/<old account>-NAME-VERSION to this console's account ID "
        "and rewrite the account in graph.json's package names and node interfaces. Override "
        "files are not changed. The account ID comes from the console (GET /api/installation/).",
    )
    parser.set_defaults(handler=import_application)

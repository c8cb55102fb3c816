"""A panorama-cli application folder: ``assets/``, ``graphs/<app>/graph.json``, ``packages/*/``.

Every command but ``init-project`` runs in that folder, as panorama-cli's do. JSON is written as
panorama-cli writes it (``indent=4``, no trailing newline), atomically, so a failed command never
leaves half a file behind.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vantage_cli.errors import CliError

APP_DIRS = ("assets", "graphs", "packages")
CHUNK_SIZE = 1024 * 1024


def find_project_root(path: Path) -> Path | None:
    """The nearest folder at or above ``path`` that holds both ``graphs/`` and ``packages/``."""
    for folder in [path if path.is_dir() else path.parent, *path.resolve().parents]:
        if (folder / "graphs").is_dir() and (folder / "packages").is_dir():
            return folder
    return None


def project_packages(root: Path) -> dict[str, object]:
    """package.json documents keyed ``<account>::<name>`` from ``packages/<account>-<name>-<ver>/``.

    The account comes from the folder name, as panorama-cli names the folders; a document that
    is not valid JSON is left out here and reported when that file itself is validated.
    """
    packages: dict[str, object] = {}
    for package_json in sorted(root.glob("packages/*/package.json")):
        account = package_json.parent.name.split("-", 1)[0]
        try:
            document = json.loads(package_json.read_text())
            name = document["nodePackage"]["name"]
        except (ValueError, KeyError, TypeError):
            continue
        packages[f"{account}::{name}"] = document
    return packages


# --- files ------------------------------------------------------------------------------------


def read_json(path: Path) -> Any:
    """Parse a JSON file; an error names the file and the place of a syntax error."""
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot read the file: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not UTF-8 text: {exc}") from None
    except json.JSONDecodeError as exc:
        raise CliError(
            f"{path}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


def dump_json(document: Any) -> str:
    return json.dumps(document, indent=4)


def write_json(path: Path, document: Any) -> None:
    write_text(path, dump_json(document))


def write_text(path: Path, text: str) -> None:
    """Replace ``path`` atomically (a temporary file in the same folder, then a rename)."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as stream:
            stream.write(text)
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        else:
            os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(CHUNK_SIZE):
            digest.update(chunk)
    return digest.hexdigest()


# --- package folders --------------------------------------------------------------------------


def is_package_dir(name: str) -> bool:
    """panorama-cli skips folders whose names have fewer than three '-'-separated parts."""
    return len(name.split("-")) >= 3


def package_name(folder: Path | str) -> str:
    """``619501627742-people-counter-package-1.0`` → ``people-counter-package``."""
    return "-".join(Path(os.path.normpath(folder)).name.split("-")[1:-1])


def package_account(folder: Path | str) -> str:
    return Path(os.path.normpath(folder)).name.split("-")[0]


def package_version(folder: Path | str) -> str:
    return Path(os.path.normpath(folder)).name.split("-")[-1]


# --- the application folder -------------------------------------------------------------------


@dataclass(frozen=True)
class App:
    root: Path

    @classmethod
    def here(cls, cwd: Path | None = None) -> App:
        """The application in the current directory, or an error saying what is missing."""
        root = (cwd or Path.cwd()).resolve()
        missing = [name for name in APP_DIRS if not (root / name).is_dir()]
        if missing:
            lacking = ", ".join(f"{name}/" for name in missing)
            raise CliError(
                f"{root} is not an application folder (it lacks {lacking}). Run vantage-cli "
                "from the folder that holds assets/, graphs/ and packages/, or create one with "
                "`vantage-cli init-project --name NAME`."
            )
        return cls(root)

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def packages(self) -> Path:
        return self.root / "packages"

    def graph_path(self) -> Path:
        """``graphs/<first sub-folder>/graph.json``, as panorama-cli picks it (sorted here)."""
        folders = sorted(p for p in (self.root / "graphs").iterdir() if p.is_dir())
        if not folders:
            raise CliError(f"{self.root / 'graphs'} has no application folder with a graph.json")
        path = folders[0] / "graph.json"
        if not path.is_file():
            raise CliError(f"{path}: no such file (the graph of application {folders[0].name})")
        return path

    def read_graph(self) -> tuple[Path, dict[str, Any]]:
        path = self.graph_path()
        graph = read_json(path)
        if not isinstance(graph, dict) or not isinstance(graph.get("nodeGraph"), dict):
            raise CliError(f'{path}: not an application graph (no top-level "nodeGraph" object)')
        return path, graph

    def package_dirs(self) -> list[Path]:
        return sorted(p for p in self.packages.iterdir() if p.is_dir())

    def package_dir(self, given: str | Path) -> Path:
        """A ``--package-path`` argument: relative to the current directory, like panorama-cli."""
        folder = Path(os.path.normpath(self.root / given))
        if not folder.is_dir():
            raise CliError(f"{given}: no such package folder")
        if not is_package_dir(folder.name):
            raise CliError(
                f"{given}: a package folder is named <account>-<PackageName>-<version>, "
                "e.g. packages/123456789012-SAMPLE_CODE-1.0"
            )
        return folder

    def add_graph_node(self, name: str, interface: str) -> bool:
        """Append ``{name, interface, overridable false, launch onAppStart}`` unless present."""
        from vantage_cli.templates import graph_node

        path, graph = self.read_graph()
        nodes = graph["nodeGraph"].setdefault("nodes", [])
        if any(isinstance(n, dict) and n.get("name") == name for n in nodes):
            print(f"Graph node {name} already exists in {path.relative_to(self.root)}; unchanged")
            return False
        nodes.append(graph_node(name, interface))
        write_json(path, graph)
        print(f"Added node {name} ({interface}) to {path.relative_to(self.root)}")
        return True

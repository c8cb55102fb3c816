"""``build-container``, ``export-container`` and ``add-raw-model``: assets into assets/, then
package.json and graph.

A package with a Dockerfile is built into an image and exported (``containers.py``). Without
one, a container asset is the package's code: ``src/`` (or, for packages without one, the
package folder minus package.json) under ``panorama/``, plus ``descriptor.json`` at the root,
in a gzip tar that is byte-for-byte reproducible, so the same sources give the same sha256.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import shutil
import stat
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from manifests import validate_descriptor
from vantage_cli import containers, templates
from vantage_cli.config import load_settings
from vantage_cli.errors import CliError
from vantage_cli.project import (
    App,
    dump_json,
    package_account,
    package_name,
    read_json,
    sha256_file,
    write_json,
)

SKIPPED_NAMES = {"__pycache__", ".DS_Store"}
SKIPPED_SUFFIXES = (".pyc", ".pyo")


# --- the reproducible archive -----------------------------------------------------------------


class _Hashing:
    """A write-only file that hashes what passes through it."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream, self.digest = stream, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.digest.update(data)
        return self.stream.write(data)

    def flush(self) -> None:
        self.stream.flush()


def _walk(folder: Path, exclude: set[Path]) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path in exclude or any(part in SKIPPED_NAMES for part in relative.parts):
            continue
        if path.suffix in SKIPPED_SUFFIXES:
            continue
        yield path


def _entry(name: str, source: Path) -> tarfile.TarInfo | None:
    info = tarfile.TarInfo(name)
    mode = source.lstat().st_mode
    if stat.S_ISLNK(mode):
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, os.readlink(source), 0o777
    elif stat.S_ISDIR(mode):
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif stat.S_ISREG(mode):
        info.size = source.stat().st_size
        info.mode = 0o755 if mode & 0o111 else 0o644
    else:
        return None  # sockets, fifos, devices: not part of an application
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "root", "root"
    return info


def pack_container(code: Path, descriptor: Path, exclude: set[Path], out: Path) -> str:
    """Write the archive of ``code`` (as ``panorama/``) and ``descriptor`` to ``out``; its sha."""
    members: list[tuple[str, Path]] = [("descriptor.json", descriptor), ("panorama", code)]
    members += [(f"panorama/{p.relative_to(code).as_posix()}", p) for p in _walk(code, exclude)]
    with out.open("wb") as raw:
        hashing = _Hashing(raw)
        with (
            gzip.GzipFile(filename="", mode="wb", fileobj=hashing, mtime=0) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
        ):
            for name, source in sorted(members):
                info = _entry(name, source)
                if info is None:
                    print(f"Skipping {source}: not a file, folder or link", file=sys.stderr)
                elif info.isreg():
                    with source.open("rb") as stream:
                        archive.addfile(info, stream)
                else:
                    archive.addfile(info)
    return hashing.digest.hexdigest()


# --- package.json updates shared by both commands ---------------------------------------------


def _replace_asset(
    app: App, package: dict[str, Any], new: dict[str, Any], prepend: bool, keep_requirements: bool
) -> bool:
    """Put ``new`` in place of the asset of the same name; True if there was none before.

    The old asset's files that the new one no longer names are deleted from assets/.
    """
    body = package["nodePackage"]
    implementation = new["implementations"][0]
    kept: list[Any] = []
    is_new = True
    for asset in body.get("assets", []):
        if not (isinstance(asset, dict) and asset.get("name") == new["name"]):
            kept.append(asset)
            continue
        is_new = False
        print("Updating an existing asset with the same name")
        for old in asset.get("implementations", []):
            for field in ("assetUri", "descriptorUri"):
                uri = old.get(field)
                if uri and uri != implementation[field]:
                    print(f"Deleting old {'asset' if field == 'assetUri' else 'descriptor'} {uri}")
                    stale = app.assets / Path(uri).name
                    if stale.is_file():
                        stale.unlink()
            if keep_requirements and "requirements" in old:
                implementation["requirements"] = old["requirements"]
    body["assets"] = [new, *kept] if prepend else [*kept, new]
    return is_new


def _add_interface(
    app: App, folder: Path, package: dict[str, Any], asset: str, category: str, node: str
) -> None:
    interfaces = package["nodePackage"].setdefault("interfaces", [])
    if any(isinstance(i, dict) and i.get("asset") == asset for i in interfaces):
        return
    interface = templates.interface(f"{asset}_interface", category, asset)
    interfaces.append(interface)
    print(f"Added interface {interface['name']} to {folder.name}/package.json")
    full = f"{package_account(folder)}::{package_name(folder)}.{interface['name']}"
    app.add_graph_node(node, full)


def _copy_descriptor(app: App, descriptor: Path) -> str:
    if not descriptor.is_file():
        raise CliError(f"{descriptor}: no such descriptor file")
    document = read_json(descriptor)
    for error in validate_descriptor(document):
        print(f"warning: {descriptor}: {error}", file=sys.stderr)
    uri = sha256_file(descriptor) + ".json"
    shutil.copyfile(descriptor, app.assets / uri)
    return uri


def _entry_file(descriptor: Any) -> str | None:
    """``runtimeDescriptor.entry.name``, when the descriptor has one."""
    try:
        name = descriptor["runtimeDescriptor"]["entry"]["name"]
    except (KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def _package_json(folder: Path) -> tuple[Path, dict[str, Any]]:
    path = folder / "package.json"
    document = read_json(path)
    if not isinstance(document, dict) or not isinstance(document.get("nodePackage"), dict):
        raise CliError(f'{path}: not a package.json (no top-level "nodePackage" object)')
    if not isinstance(document["nodePackage"].get("assets", []), list):
        raise CliError(f"{path}: /nodePackage/assets must be a list")
    return path, document


# --- build-container --------------------------------------------------------------------------


def build_container(args: argparse.Namespace) -> int:
    app = App.here()
    if args.command == "build":
        print("build is deprecated, use build-container instead", file=sys.stderr)
    asset_name = args.container_asset_name
    folder = app.package_dir(args.package_path)
    package_path, package = _package_json(folder)
    descriptor = folder / "descriptor.json"
    if (folder / "Dockerfile").is_file() and not args.code_only:
        descriptor_uri = _copy_descriptor(app, descriptor)
        arch = containers.platform_arch(args.platform)
        archive = containers.build_image(
            app, folder, asset_name, pull=not args.local_image, arch=arch
        )
        return _add_container_asset(app, folder, package_path, package, asset_name, archive,
                                    descriptor_uri)  # fmt: skip
    if args.local_image:
        print("Note: --local-image has no effect: there is no Dockerfile to build")
    code, exclude = folder / "src", set()
    if not code.is_dir():
        code, exclude = folder, {folder / "package.json"}
        print(f"Note: {folder.name} has no src/ folder: packing the package folder itself "
              "(without package.json) under /panorama")  # fmt: skip
    elif not any(code.iterdir()):
        print(f"warning: {code} is empty: the container holds no code", file=sys.stderr)
    descriptor_uri = _copy_descriptor(app, descriptor)
    entry = _entry_file(read_json(descriptor))
    if entry and entry.startswith("/panorama/") and not (code / entry[10:]).exists():
        print(f"warning: the descriptor's entry {entry} is not in {code}", file=sys.stderr)

    fd, temporary = tempfile.mkstemp(dir=app.assets, prefix=f".{asset_name}.", suffix=".tar.gz")
    os.close(fd)
    try:
        sha = pack_container(code, descriptor, exclude, Path(temporary))
        archive = app.assets / f"{sha}.tar.gz"
        os.chmod(temporary, 0o644)
        os.replace(temporary, archive)
    finally:
        Path(temporary).unlink(missing_ok=True)
    print(f"Packed {code.relative_to(app.root)} into assets/{archive.name}")
    return _add_container_asset(
        app, folder, package_path, package, asset_name, archive, descriptor_uri
    )


def _add_container_asset(
    app: App, folder: Path, package_path: Path, package: dict[str, Any], asset_name: str,
    archive: Path, descriptor_uri: str,
) -> int:  # fmt: skip
    new = templates.asset(asset_name, "container", archive.name, descriptor_uri)
    is_new = _replace_asset(app, package, new, prepend=False, keep_requirements=True)
    if is_new:
        _add_interface(app, folder, package, asset_name, "business_logic", f"{asset_name}_node")
    write_json(package_path, package)
    print(dump_json(new))
    print(f"Container asset for the package has been successfully built at {archive}")
    return 0


def export_container(args: argparse.Namespace) -> int:
    """panorama-cli's export-container: an existing image instead of a build."""
    app = App.here()
    folder = app.package_dir(args.package_path)
    package_path, package = _package_json(folder)
    descriptor_uri = _copy_descriptor(app, folder / "descriptor.json")
    archive = containers.export_image(app, args.container_image_uri)
    return _add_container_asset(
        app, folder, package_path, package, args.container_asset_name, archive, descriptor_uri
    )


# --- add-raw-model ----------------------------------------------------------------------------


def _fetch_s3(uri: str, destination: Path) -> None:
    """Download ``s3://bucket/key`` with boto3 (``AWS_ENDPOINT_URL_S3`` for other S3 stores)."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    if not uri.startswith("s3://") or not bucket or not key:
        raise CliError(f"--model-s3-uri {uri!r}: expected s3://BUCKET/KEY")
    try:
        import boto3
        from botocore.exceptions import BotoCoreError, ClientError
    except ImportError:
        raise CliError("--model-s3-uri needs boto3; use --model-local-path instead") from None
    try:
        boto3.client("s3").download_file(bucket, key, str(destination))
    except (BotoCoreError, ClientError) as exc:
        raise CliError(
            f"cannot download {uri}: {exc}. --model-s3-uri needs S3 credentials (AWS_* "
            "variables or ~/.aws) and, for an S3-compatible store, AWS_ENDPOINT_URL_S3; or "
            "download the model and use --model-local-path"
        ) from None


def _warn_if_not_compiled(descriptor: Path) -> None:
    """Say at once when the configured console cannot compile the model's framework (a
    deployment would fail on it later); silent when no console is configured."""
    try:
        body = json.loads(descriptor.read_text()).get("mlModelDescriptor") or {}
        framework = str(body.get("framework", "")).upper()
    except (OSError, ValueError, AttributeError):
        return  # _copy_descriptor has already said what is wrong with it
    if framework in ("", "ONNX"):
        return
    settings = load_settings()
    if not settings.url:
        return
    try:
        compilers = settings.console().model_compilers()
    except CliError as exc:
        print(f"Note: could not ask the console whether it compiles {framework} models: {exc}",
              file=sys.stderr)  # fmt: skip
        return
    compiler = compilers.get(framework)
    if compiler is not None and not compiler.get("available"):
        print(
            f"Warning: the console cannot compile {framework} models: {compiler.get('reason')}. "
            "Deployments of this model fail until it can.",
            file=sys.stderr,
        )


def add_raw_model(args: argparse.Namespace) -> int:
    app = App.here()
    asset_name = args.model_asset_name
    folders = [app.package_dir(p) for p in args.packages_path]
    packages = [(folder, *_package_json(folder)) for folder in folders]
    descriptor = app.root / args.descriptor_path
    staged = app.assets / f"{asset_name}.tar.gz"
    if args.model_s3_uri:
        _fetch_s3(args.model_s3_uri, staged)
    else:
        source = app.root / args.model_local_path
        if not source.is_file():
            raise CliError(f"--model-local-path {args.model_local_path}: no such file")
        if source.resolve() != staged.resolve():
            shutil.copyfile(source, staged)
    try:
        descriptor_uri = _copy_descriptor(app, descriptor)
    except CliError:
        staged.unlink(missing_ok=True)
        raise
    model = app.assets / f"{sha256_file(staged)}.tar.gz"
    os.replace(staged, model)
    _warn_if_not_compiled(descriptor)

    new = templates.asset(asset_name, "model", model.name, descriptor_uri)
    for folder, package_path, package in packages:
        entry = templates.asset(asset_name, "model", model.name, descriptor_uri)
        if _replace_asset(app, package, entry, prepend=True, keep_requirements=False):
            _add_interface(app, folder, package, asset_name, "ml_model", asset_name)
        write_json(package_path, package)
        print(f"Updated packages/{folder.name}/package.json")
    if not packages:
        print("Copy the following in the assets section of package.json")
    print(dump_json(new))
    print(f"Successfully added the model at {model}")
    return 0


# --- the parsers ------------------------------------------------------------------------------


def add_parsers(sub: argparse._SubParsersAction) -> None:
    for command in ("build-container", "build"):
        parser = sub.add_parser(
            command,
            help="build a container package into assets/ and add it to package.json"
            if command == "build-container"
            else "deprecated name of build-container",
            description="With a Dockerfile in the package: build it with buildah (FROM "
            "public.ecr.aws/panorama/panorama-application is Vantage's base image) and export "
            "the container's filesystem to assets/<sha256>.tar.gz, as panorama-cli does with "
            "Docker. Without one (or with --code-only): pack the package's src/ (under "
            "/panorama) and descriptor.json into a reproducible assets/<sha256>.tar.gz. Either "
            "way, copy descriptor.json to assets/<sha256>.json and put the asset in "
            "package.json (replacing an asset of the same name and keeping its requirements); "
            "for a new asset add interface NAME_interface and graph node NAME_node. Run in the "
            "application folder.",
        )
        parser.add_argument(
            "--container-asset-name", required=True, help="name of the container asset"
        )
        parser.add_argument(
            "--package-path", required=True, help="the package folder, e.g. packages/<acct>-X-1.0"
        )
        parser.add_argument(
            "--local-image", action="store_true",
            help="pull nothing: images other than the base image must be in buildah's store",
        )  # fmt: skip
        parser.add_argument(
            "--platform", metavar="linux/arm64",
            help="build for another architecture (linux/amd64, linux/arm64), as docker build "
            "--platform; another than this machine's needs qemu-user-static",
        )  # fmt: skip
        parser.add_argument(
            "--code-only", action="store_true",
            help="pack src/ without building the Dockerfile (Vantage only; runs on the "
            "appliance's own Python)",
        )  # fmt: skip
        parser.set_defaults(handler=build_container)

    parser = sub.add_parser(
        "export-container",
        help="export an existing container image into assets/ and add it to package.json",
        description="Export the filesystem of an image (buildah's store, a registry, or a "
        "docker-archive:FILE / oci-archive:FILE) to assets/<sha256>.tar.gz, as "
        "build-container does after building. Run in the application folder.",
    )
    parser.add_argument("--container-asset-name", required=True, help="name of the asset")
    parser.add_argument("--container-image-uri", required=True, help="the image to export")
    parser.add_argument(
        "--package-path", required=True, help="the package folder, e.g. packages/<acct>-X-1.0"
    )
    parser.set_defaults(handler=export_container)

    parser = sub.add_parser(
        "add-raw-model",
        help="add a model archive to assets/ and to model packages",
        description="Copy the model .tar.gz to assets/<sha256>.tar.gz and the descriptor to "
        "assets/<sha256>.json. In each --packages-path package.json the model asset is put "
        "first (replacing one of the same name, whose files are deleted); a new asset also gets "
        "interface NAME_interface (ml_model) and graph node NAME. Without --packages-path the "
        "asset JSON is only printed. Run in the application folder.",
    )
    parser.add_argument("--model-asset-name", required=True, help="name of the model asset")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--model-s3-uri", help="s3://BUCKET/KEY of the model archive (boto3)")
    source.add_argument("--model-local-path", help="path of the model archive (.tar.gz)")
    parser.add_argument("--descriptor-path", required=True, help="the model's descriptor.json")
    parser.add_argument(
        "--packages-path",
        nargs="+",
        action="extend",  # a repeated --packages-path adds to the list, never replaces it
        default=[],
        help="package folders that use this model; they get the asset",
    )
    parser.set_defaults(handler=add_raw_model)

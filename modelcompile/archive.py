"""Model archives: unpacking an uploaded one safely, finding the model in it, packing the
result the way the appliance unpacks it (edge_agent/runtime/modelload.py)."""

from __future__ import annotations

import gzip
import re
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from modelcompile.errors import CompileError

# An uploaded archive is untrusted: cap what it may unpack to (a gzip bomb would fill the disk).
MAX_UNPACKED_BYTES = 4 * 2**30
MAX_MEMBERS = 10_000


def _ignored(name: str) -> bool:
    # macOS tar adds "._name" resource forks beside each file, and Finder's zips "__MACOSX/".
    parts = PurePosixPath(name).parts
    return any(part.startswith("._") or part == "__MACOSX" for part in parts)


def unpack(archive: Path, folder: Path) -> None:
    """Unpack ``archive`` (.tar.gz or .tar) into ``folder`` (emptied first), refusing links,
    devices, absolute paths, ``..`` and archives over the size and member caps."""
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    if not archive.is_file():
        raise CompileError(f"the model archive {archive.name} is missing")
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = []
            total = 0
            for count, member in enumerate(tar, start=1):
                if count > MAX_MEMBERS:
                    raise CompileError(
                        f"the model archive {archive.name} holds more than {MAX_MEMBERS:,} "
                        "files; pack only the model's files"
                    )
                _refuse_unsafe(archive, member)
                if _ignored(member.name) or not (member.isfile() or member.isdir()):
                    continue
                total += member.size
                if total > MAX_UNPACKED_BYTES:
                    raise CompileError(
                        f"the model archive {archive.name} unpacks to more than "
                        f"{MAX_UNPACKED_BYTES / 2**30:.0f} GiB, which is more than a model "
                        "node can run; pack only the model's files"
                    )
                members.append(member)
            # The "data" filter checks again what _refuse_unsafe checked (and strips modes).
            tar.extractall(folder, members=members, filter="data")
    except tarfile.FilterError as exc:
        raise CompileError(f"the model archive {archive.name} is unsafe: {exc}") from None
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise CompileError(
            f"the model archive {archive.name} is not a readable .tar.gz archive ({exc}); "
            "upload the model as a .tar.gz as Panorama packaged it"
        ) from None


def _refuse_unsafe(archive: Path, member: tarfile.TarInfo) -> None:
    name = member.name
    path = PurePosixPath(name)
    why = None
    if member.issym() or member.islnk():
        why = f"'{name}' is a link"
    elif member.isdev() or member.isfifo():
        why = f"'{name}' is a device or pipe"
    elif path.is_absolute() or name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        why = f"'{name}' is an absolute path"
    elif ".." in path.parts or ".." in name.split("\\"):
        why = f"'{name}' points outside the archive's folder"
    if why:
        raise CompileError(
            f"the model archive {archive.name} is unsafe: {why}; pack the model's files "
            "themselves, with relative paths"
        )


@dataclass(frozen=True)
class ModelFiles:
    """What the worker loads: ``kind`` names the format, ``path`` its file or folder."""

    kind: str  # torchscript | saved_model | frozen_graph | mxnet_checkpoint | onnx
    path: Path
    epoch: int | None = None  # MXNet: the .params file's epoch


def _files(root: Path, pattern: str) -> list[Path]:
    return sorted(
        p for p in root.rglob(pattern) if p.is_file() and not _ignored(str(p.relative_to(root)))
    )


def _one(root: Path, found: list[Path], what: str, archive: str) -> Path:
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(root)) for p in found)
        raise CompileError(
            f"the model archive {archive} holds several {what} ({names}); a model package "
            "holds exactly one model"
        )
    return found[0]


def find_model(root: Path, framework: str, archive: str) -> ModelFiles:
    """The model in an unpacked archive, in the layouts Panorama's model packages used."""
    fw = framework.upper()
    if fw == "PYTORCH":
        found = sorted(_files(root, "*.pth") + _files(root, "*.pt"))
        if not found:
            raise _none(root, archive, "TorchScript model (.pth or .pt)")
        return ModelFiles("torchscript", _one(root, found, ".pth/.pt models", archive))
    if fw == "TENSORFLOW":
        saved = [p.parent for p in _files(root, "saved_model.pb")]
        if saved:
            return ModelFiles("saved_model", _one(root, saved, "SavedModels", archive))
        frozen = _files(root, "*.pb")
        if not frozen:
            raise _none(
                root, archive, "TensorFlow SavedModel (saved_model.pb) or frozen graph (.pb)"
            )
        return ModelFiles("frozen_graph", _one(root, frozen, "frozen graphs (.pb)", archive))
    if fw == "MXNET":
        symbols = _files(root, "*-symbol.json")
        if not symbols:
            raise _none(root, archive, "MXNet model (<name>-symbol.json and <name>-NNNN.params)")
        symbol = _one(root, symbols, "MXNet symbols (-symbol.json)", archive)
        prefix = symbol.name[: -len("-symbol.json")]
        epochs = []
        for params in symbol.parent.glob(f"{glob_escape(prefix)}-*.params"):
            match = re.fullmatch(re.escape(prefix) + r"-(\d{4})\.params", params.name)
            if match and not params.name.startswith("._"):
                epochs.append(int(match.group(1)))
        if not epochs:
            raise CompileError(
                f"the model archive {archive} has {symbol.name} but no {prefix}-NNNN.params "
                "beside it; pack the parameters saved with the symbol"
            )
        # Training saves a checkpoint per epoch; Neo compiled the last one packed.
        return ModelFiles("mxnet_checkpoint", symbol.parent / prefix, max(epochs))
    if fw == "ONNX":
        found = _files(root, "*.onnx")
        if not found:
            raise _none(root, archive, "ONNX model (.onnx)")
        return ModelFiles("onnx", _one(root, found, ".onnx models", archive))
    raise CompileError(f"unknown model framework '{framework}'")


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def _none(root: Path, archive: str, what: str) -> CompileError:
    listing = [str(p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file()]
    shown = ", ".join(listing[:10]) + (" …" if len(listing) > 10 else "")
    return CompileError(
        f"the model archive {archive} holds no {what}; it holds: {shown or 'nothing'}. "
        "Check the descriptor's framework"
    )


def pack(onnx: Path, archive: Path) -> Path:
    """``archive`` (.tar.gz) holding exactly ``model.onnx``: what the appliance unpacks."""
    archive.parent.mkdir(parents=True, exist_ok=True)
    partial = archive.with_name(archive.name + ".partial")
    info = tarfile.TarInfo("model.onnx")
    info.size = onnx.stat().st_size
    info.mode = 0o644
    info.mtime = 0  # the same model packs to the same bytes, whatever day it was compiled
    with (
        open(partial, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        onnx.open("rb") as source,
    ):
        tar.addfile(info, source)
    partial.replace(archive)
    return archive

"""Unpacking uploads safely and finding the model in the layouts Panorama used (no env)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from modelcompile import archive
from modelcompile.errors import CompileError


def make_tar(path: Path, members: list[tuple[str, bytes | None, str]]) -> Path:
    """``(name, content, kind)``: kind "file", "dir", "sym", "link" or "fifo"."""
    with tarfile.open(path, "w:gz") as tar:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(content or b"")
                tar.addfile(info, io.BytesIO(content or b""))
                continue
            info.type = {
                "dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "link": tarfile.LNKTYPE,
                "fifo": tarfile.FIFOTYPE,
            }[kind]  # fmt: skip
            info.linkname = (content or b"").decode()
            tar.addfile(info)
    return path


@pytest.mark.parametrize(
    ("member", "why"),
    [
        (("../evil.pth", b"x", "file"), "points outside"),
        (("model/../../evil.pth", b"x", "file"), "points outside"),
        (("/etc/evil.pth", b"x", "file"), "absolute path"),
        (("model.pth", b"/etc/passwd", "sym"), "is a link"),
        (("model.pth", b"/etc/passwd", "link"), "is a link"),
        (("pipe", None, "fifo"), "device or pipe"),
    ],
)
def test_unsafe_members_are_refused(tmp_path, member, why):
    tar = make_tar(tmp_path / "evil.tar.gz", [("ok.txt", b"fine", "file"), member])
    with pytest.raises(CompileError, match=why) as caught:
        archive.unpack(tar, tmp_path / "out")
    assert "unsafe" in str(caught.value)
    assert not (tmp_path / "evil.pth").exists()
    assert not (tmp_path / "out" / "ok.txt").exists()  # refused before anything is written


def test_corrupted_archive(tmp_path):
    good = make_tar(tmp_path / "m.tar.gz", [("model.pth", b"x" * 5000, "file")])
    broken = tmp_path / "broken.tar.gz"
    broken.write_bytes(good.read_bytes()[:60])
    for path in (broken, tmp_path / "noise.tar.gz"):
        if not path.exists():
            path.write_bytes(b"this is not gzip" * 10)
        with pytest.raises(CompileError, match=r"not a readable \.tar\.gz archive"):
            archive.unpack(path, tmp_path / "out")


def test_caps_on_size_and_members(tmp_path, monkeypatch):
    tar = make_tar(tmp_path / "m.tar.gz", [(f"f{i}", b"x" * 100, "file") for i in range(5)])
    monkeypatch.setattr(archive, "MAX_MEMBERS", 4)
    with pytest.raises(CompileError, match="more than 4 files"):
        archive.unpack(tar, tmp_path / "out")
    monkeypatch.setattr(archive, "MAX_MEMBERS", 100)
    monkeypatch.setattr(archive, "MAX_UNPACKED_BYTES", 450)
    with pytest.raises(CompileError, match="unpacks to more than"):
        archive.unpack(tar, tmp_path / "out")


def test_macos_forks_are_ignored_and_subfolders_searched(tmp_path):
    tar = make_tar(
        tmp_path / "m.tar.gz",
        [
            ("export/", None, "dir"),
            ("export/._model.pth", b"\x00\x05\x16\x07", "file"),
            ("export/model.pth", b"torchscript", "file"),
            ("__MACOSX/export/._model.pth", b"\x00", "file"),
        ],
    )
    archive.unpack(tar, tmp_path / "out")
    assert not (tmp_path / "out" / "export" / "._model.pth").exists()
    found = archive.find_model(tmp_path / "out", "PYTORCH", "m.tar.gz")
    assert found == archive.ModelFiles("torchscript", tmp_path / "out" / "export" / "model.pth")


def layout(tmp_path: Path, files: list[str]) -> Path:
    root = tmp_path / "root"
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    return root


def test_find_model_layouts(tmp_path):
    root = layout(tmp_path, ["ssd/saved_model/saved_model.pb", "ssd/saved_model/variables/v"])
    assert archive.find_model(root, "TENSORFLOW", "a").kind == "saved_model"
    assert archive.find_model(root, "TENSORFLOW", "a").path == root / "ssd/saved_model"
    root = layout(tmp_path / "2", ["frozen_inference_graph.pb", "labels.txt"])
    assert archive.find_model(root, "TENSORFLOW", "a").kind == "frozen_graph"
    root = layout(tmp_path / "3", ["m/ssd-symbol.json", "m/ssd-0000.params", "m/ssd-0012.params"])
    found = archive.find_model(root, "MXNET", "a")
    assert (found.kind, found.path, found.epoch) == ("mxnet_checkpoint", root / "m" / "ssd", 12)
    root = layout(tmp_path / "4", ["a.pt", "b.pth"])
    with pytest.raises(CompileError, match=r"several .pth/.pt models \(a.pt, b.pth\)"):
        archive.find_model(root, "PYTORCH", "a")
    root = layout(tmp_path / "5", ["ssd-symbol.json"])
    with pytest.raises(CompileError, match=r"no ssd-NNNN\.params"):
        archive.find_model(root, "MXNET", "a")
    root = layout(tmp_path / "6", ["model.onnx"])
    with pytest.raises(CompileError, match=r"holds no TorchScript model .*it holds: model.onnx"):
        archive.find_model(root, "PYTORCH", "a")


def test_pack_holds_exactly_model_onnx_and_is_reproducible(tmp_path):
    onnx = tmp_path / "x.onnx"
    onnx.write_bytes(b"onnx bytes")
    first = archive.pack(onnx, tmp_path / "a" / "model.tar.gz")
    second = archive.pack(onnx, tmp_path / "b" / "model.tar.gz")
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        assert tar.getnames() == ["model.onnx"]
        assert tar.extractfile("model.onnx").read() == b"onnx bytes"

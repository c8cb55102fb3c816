"""Unpacking is capped: a model archive (and a container image) that declares more than its
limit, or more than the disk has free, is refused before anything is written; what is written
is counted too; hostile members are still refused."""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

import pytest

from edge_agent.apps import images
from edge_agent.apps.images import ImageCache, ImageError
from edge_agent.apps.options import AppOptions
from edge_agent.runtime import modelload
from edge_agent.runtime.modelload import StartupError, unpack
from tests.support.diskfull import small_disk

MIB = 1024**2


def _archive(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(gzip.compress(buffer.getvalue()))
    return path


def _file(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def test_a_model_archive_within_its_limit_unpacks(tmp_path):
    archive = _archive(tmp_path / "model.tar.gz", [_file("model/m.onnx", b"x" * MIB)])
    model = unpack(archive, tmp_path / "out", limit=2 * MIB)
    assert model == tmp_path / "out" / "model" / "m.onnx" and model.stat().st_size == MIB


def test_a_bomb_is_refused_before_a_byte_is_written(tmp_path):
    # A 2 GiB member of zeros is a few MiB of gzip; only its header and a little data are kept
    # here (the header is what is read), so the test stays fast.
    info = tarfile.TarInfo("model.onnx")
    info.size = 2 * 1024**3
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(gzip.compress(info.tobuf() + bytes(64 * 1024)))
    assert archive.stat().st_size < 2 * MIB
    out = tmp_path / "out"
    with pytest.raises(StartupError) as refused:
        unpack(archive, out, limit=512 * MIB)
    assert str(refused.value) == (
        "the model archive bomb.tar.gz declares 2.0 GiB unpacked; the limit is 512 MiB "
        "(VANTAGE_AGENT_MODEL_UNPACK_MIB)"
    )
    assert list(out.iterdir()) == []


def test_the_limit_is_an_environment_setting(tmp_path, monkeypatch):
    archive = _archive(tmp_path / "m.tar.gz", [_file("m.onnx", bytes(3 * MIB))])
    monkeypatch.setenv("VANTAGE_AGENT_MODEL_UNPACK_MIB", "2")
    with pytest.raises(StartupError, match=r"declares 3 MiB unpacked; the limit is 2 MiB"):
        unpack(archive, tmp_path / "out")
    monkeypatch.setenv("VANTAGE_AGENT_MODEL_UNPACK_MIB", "4")
    assert unpack(archive, tmp_path / "out").stat().st_size == 3 * MIB
    monkeypatch.setenv("VANTAGE_AGENT_MODEL_UNPACK_MIB", "lots")
    with pytest.raises(StartupError, match="'lots' is not a number of MiB"):
        unpack(archive, tmp_path / "out")
    assert modelload.DEFAULT_UNPACK_MIB == 1024


def test_an_archive_larger_than_the_free_space_is_refused(tmp_path):
    archive = _archive(tmp_path / "m.tar.gz", [_file("m.onnx", bytes(3 * MIB))])
    with small_disk(tmp_path / "shm", "2m") as shm:
        with pytest.raises(StartupError) as refused:
            unpack(archive, shm / "model-node", limit=64 * MIB)
        assert str(refused.value).startswith(
            "the model archive m.tar.gz unpacks to 3 MiB, but only 2 MiB is free in "
        )
        assert list((shm / "model-node").iterdir()) == []


def test_what_is_written_is_counted_against_the_limit(tmp_path):
    """The guard behind the declared sizes: it stops writing at the limit whatever the
    headers said when they were read (here: read with a higher limit)."""
    archive = _archive(
        tmp_path / "m.tar.gz", [_file("a.bin", bytes(MIB)), _file("b.onnx", bytes(MIB))]
    )
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(StartupError, match="unpacks to more than its headers declared"):
        modelload._extract(archive, out, limit=MIB + MIB // 2)
    assert [p.name for p in out.iterdir()] == ["a.bin"]  # b.onnx was never written


@pytest.mark.parametrize(
    "name, kind, link",
    [
        ("../evil.onnx", tarfile.REGTYPE, ""),
        ("out.onnx", tarfile.SYMTYPE, "/etc/passwd"),
        ("fifo", tarfile.FIFOTYPE, ""),
        ("dev", tarfile.CHRTYPE, ""),
    ],
)
def test_hostile_members_are_still_refused(tmp_path, name, kind, link):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    archive = _archive(tmp_path / "h.tar.gz", [(info, b"" if kind == tarfile.REGTYPE else None)])
    with pytest.raises(StartupError, match=r"the model archive h\.tar\.gz is unsafe"):
        unpack(archive, tmp_path / "out", limit=MIB)
    assert not (tmp_path / "evil.onnx").exists()


def test_an_absolute_name_lands_inside_the_folder(tmp_path):
    info, data = _file(str(tmp_path / "evil.onnx"), b"onnx")
    archive = _archive(tmp_path / "a.tar.gz", [(info, data)])
    model = unpack(archive, tmp_path / "out", limit=MIB)
    assert model.is_relative_to(tmp_path / "out") and not (tmp_path / "evil.onnx").exists()


# --- container images ---------------------------------------------------------------------------
def test_an_image_limit_names_its_setting(tmp_path, monkeypatch):
    archive = _archive(tmp_path / "i.tar.gz", [_file("usr/big", bytes(2 * MIB))])
    monkeypatch.setenv("VANTAGE_AGENT_MAX_IMAGE_GIB", "0.001")
    limit = int(AppOptions().max_image_gib * 1024**3)
    with pytest.raises(ImageError) as refused:
        ImageCache(tmp_path / "images", 4 * 1024**3, limit).unpack("ab" * 32, archive)
    assert str(refused.value) == (
        "the image unpacks to more than 0.0 GiB; the limit is 0.0 GiB "
        "(VANTAGE_AGENT_MAX_IMAGE_GIB, or VANTAGE_AGENT_IMAGE_CACHE_GIB when smaller)"
    )


def test_an_image_writes_no_more_than_its_scan_found(tmp_path):
    archive = _archive(
        tmp_path / "i.tar.gz", [_file("usr/a", bytes(MIB)), _file("usr/b", bytes(MIB))]
    )
    dest = tmp_path / "rootfs"
    dest.mkdir()
    with pytest.raises(ImageError, match="unpacks to more than its scan found"):
        images._extract(archive, dest, MIB)  # the scan found 1 MiB; the archive writes 2
    assert sorted(p.name for p in (dest / "usr").iterdir()) == ["a"]


def test_an_image_stops_when_the_disk_fills_while_it_unpacks(tmp_path):
    archive = _archive(tmp_path / "i.tar.gz", [_file("usr/a", bytes(MIB))])
    with small_disk(tmp_path / "disk", "8m") as disk:
        # The disk has less than the reserve the rest of the appliance keeps.
        with pytest.raises(ImageError, match="the disk filled while the image was unpacked"):
            images._extract(archive, disk, 64 * MIB)
        assert not (disk / "usr" / "a").exists()

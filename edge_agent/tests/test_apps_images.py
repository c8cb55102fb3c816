"""Container images as code assets: unpacked once, safely, and run as the code node's ``/``.

The images here are small trees made by the tests (the host's ``dash`` and the C library it
needs), so they run fast; Python applications in Vantage's base image are in
``imagebuild/tests``.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import platform
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from edge_agent.apps.entry import LaunchError, elf_machine, image_entry_argv, resolve_in_image
from edge_agent.apps.images import ImageCache, ImageError, is_image, scan
from edge_agent.apps.sandbox import probe_support
from tests.support.agents import IID, Reports, code_node, make_spec, make_supervisor, run
from tests.support.waiting import eventually

GIB = 1024**3
SHA = "ab" * 32


def tarball(members: list[tuple[tarfile.TarInfo, bytes | None]], *, gz: bool = True) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(raw.getvalue(), compresslevel=1) if gz else raw.getvalue()


def member(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def cache(tmp_path: Path, budget: int = 4 * GIB, max_image: int = 2 * GIB) -> ImageCache:
    return ImageCache(tmp_path / "images", budget, max_image)


# --- telling images from code-only archives ----------------------------------------------------
def test_an_export_is_an_image_and_a_code_archive_is_not(tmp_path):
    code = [(member("descriptor.json"), b"{}"), (member("panorama", tarfile.DIRTYPE), None),
            (member("panorama/app.py"), b"print(1)")]  # fmt: skip
    assert not is_image(write(tmp_path / "code.tar.gz", tarball(code)))
    export = [(member("usr", tarfile.DIRTYPE), None), (member("panorama/app.py"), b"")]
    assert is_image(write(tmp_path / "export.tar", tarball(export, gz=False)))
    with pytest.raises(ImageError, match="cannot be read"):
        is_image(write(tmp_path / "junk.tar.gz", b"\x1f\x8b not really"))


# --- hostile archives -------------------------------------------------------------------------
HOSTILE = {
    "absolute": ([(member("/etc/evil"), b"x")], "'/etc/evil', an absolute path"),
    "dotdot": ([(member("usr/../../evil"), b"x")], "which leaves the image's root"),
    "device": ([(member("panorama/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None)],
               "'panorama/sda', a block device; images may not hold devices"),
    "chardev": ([(member("usr/mem", tarfile.CHRTYPE, devmajor=1, devminor=1), None)],
                "a character device"),
    "hardlink_out": ([(member("usr/shadow", tarfile.LNKTYPE, linkname="/etc/shadow"), None)],
                     "hard link 'usr/shadow' points outside the image"),
    "hardlink_unknown": ([(member("usr/x", tarfile.LNKTYPE, linkname="usr/absent"), None)],
                         "points to a file it does not hold"),
    "through_symlink": ([(member("usr", tarfile.SYMTYPE, linkname="{outside}"), None),
                         (member("usr/planted"), b"x")], "leaves its root"),
    "hardlink_via_symlink": ([(member("usr", tarfile.DIRTYPE), None),
                              (member("usr/l", tarfile.SYMTYPE, linkname="{outside}/target"),
                               None),
                              (member("usr/f"), b"x"),
                              (member("usr/h", tarfile.LNKTYPE, linkname="usr/l"), None)],
                             "points to a file it does not hold"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_image_is_refused_and_nothing_is_written_outside(tmp_path, case):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "target").write_text("keep")
    members, error = HOSTILE[case]
    for info, _ in members:
        info.linkname = info.linkname.replace("{outside}", str(outside))
    archive = write(tmp_path / "image.tar.gz", tarball(members))
    images = cache(tmp_path)
    with pytest.raises(ImageError, match=error.replace("(", r"\(").replace(")", r"\)")):
        images.unpack(SHA, archive)
    assert sorted(os.listdir(outside)) == ["target"]
    assert (outside / "target").read_text() == "keep"
    assert not images.has(SHA)
    assert not list(images.folder.glob("*")) if images.folder.exists() else True  # no partial


def test_a_decompression_bomb_is_refused_after_reading_no_more_than_the_limit(tmp_path):
    # 64 MiB of zeros in about 64 KiB: refused at a 16 MiB limit, before anything is written.
    bomb = tarfile.TarInfo("usr/zeros")
    bomb.size = 64 * 1024**2
    raw = io.BytesIO()
    with (
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9) as zipped,
        tarfile.open(fileobj=zipped, mode="w|") as tar,
    ):
        tar.addfile(bomb, io.BytesIO(bytes(bomb.size)))
    archive = write(tmp_path / "bomb.tar.gz", raw.getvalue())
    assert archive.stat().st_size < 1024**2
    with pytest.raises(ImageError, match=r"unpacks to more than 0\.0 GiB"):
        cache(tmp_path, max_image=16 * 1024**2).unpack(SHA, archive)
    assert list((tmp_path / "images").iterdir()) == []


def test_an_image_over_the_budget_or_the_free_space_is_refused(tmp_path):
    archive = write(tmp_path / "a.tar.gz", tarball([(member("usr/f"), b"x" * 4096)]))
    with pytest.raises(ImageError, match=r"the image unpacks to more than 0\.0 GiB"):
        cache(tmp_path, budget=1024).unpack(SHA, archive)
    free = shutil.disk_usage(tmp_path).free
    images = cache(tmp_path, budget=free * 4, max_image=free * 4)
    huge = tarfile.TarInfo("usr/huge")
    huge.size = free  # claimed in the header only: more than the disk has free
    header = huge.tobuf(tarfile.PAX_FORMAT)
    with pytest.raises(ImageError, match="not enough disk space to unpack the image"):
        images.unpack(SHA, write(tmp_path / "huge.tar", header + bytes(1024)))


def test_set_user_id_bits_are_dropped_and_owners_are_the_agent(tmp_path):
    members = [
        (member("usr", tarfile.DIRTYPE), None),
        (member("usr/bin", tarfile.DIRTYPE), None),
        (member("usr/bin/su", mode=0o4755, uid=0), b"#!"),
        (member("usr/bin/wall", mode=0o2755, uid=5, gid=5), b"#!"),
        (member("usr/bin/also", tarfile.LNKTYPE, linkname="usr/bin/su", mode=0o4755), None),
        (member("bin", tarfile.SYMTYPE, linkname="usr/bin"), None),
        (member("lib64", tarfile.SYMTYPE, linkname="/usr/lib64"), None),  # absolute: fine
        (member("dev", tarfile.DIRTYPE), None),
        # Some builders export /dev's nodes: left out, as the sandbox mounts its own /dev.
        (member("dev/console", tarfile.CHRTYPE, devmajor=5, devminor=1), None),
        (member("dev/sda", tarfile.BLKTYPE, devmajor=8, devminor=0), None),
    ]
    archive = write(tmp_path / "image.tar.gz", tarball(members))
    assert scan(archive, GIB).setuid == 2
    rootfs = cache(tmp_path).unpack(SHA, archive)
    for name in ("su", "wall"):
        info = (rootfs / "usr" / "bin" / name).stat()
        assert info.st_mode & 0o7777 == 0o755, name
        assert (info.st_uid, info.st_gid) == (os.getuid(), os.getgid())
    assert (rootfs / "usr/bin/also").stat().st_ino == (rootfs / "usr/bin/su").stat().st_ino
    assert os.readlink(rootfs / "lib64") == "/usr/lib64"
    assert os.listdir(rootfs / "dev") == []
    # The sandbox's mount points, and a hosts file in which localhost resolves.
    for folder in ("proc", "dev", "tmp", "run", "opt/aws/panorama/storage", "opt/vantage/python"):
        assert (rootfs / folder).is_dir() and not (rootfs / folder).is_symlink(), folder
    assert "localhost" in (rootfs / "etc" / "hosts").read_text()


def test_unused_images_are_removed_oldest_first_to_fit_the_budget(tmp_path):
    images = cache(tmp_path, budget=10_000)
    in_use = {"1" * 64}
    images.set_in_use(lambda: in_use)
    for index, sha in enumerate(("1" * 64, "2" * 64, "3" * 64)):
        archive = write(tmp_path / f"{index}.tar", tarball([(member("usr/f"), b"x" * 4000)]))
        images.unpack(sha, archive)
    # The third image needed room: the oldest unused one (2) went; 1 is in use.
    assert images.has("1" * 64) and not images.has("2" * 64) and images.has("3" * 64)
    in_use.clear()
    images.budget_bytes = 4000
    images.collect()
    assert not images.has("1" * 64) and images.has("3" * 64)


# --- the entry, inside the image ----------------------------------------------------------------
def test_the_entry_resolves_inside_the_image(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    (rootfs / "panorama").mkdir()
    (rootfs / "panorama" / "app.py").write_text("")
    python = rootfs / "usr" / "bin" / "python3.11"
    python.write_text("")
    python.chmod(0o755)
    (rootfs / "usr" / "bin" / "python3").symlink_to("python3.11")
    (rootfs / "bin").symlink_to("/usr/bin")  # absolute: resolved in the image, not the host
    (rootfs / "panorama" / "escape").symlink_to("/../../etc/passwd")
    assert resolve_in_image(rootfs, "/bin/python3") == python
    assert resolve_in_image(rootfs, "/panorama/escape") is None  # stays inside: no such file
    argv, note = image_entry_argv("n", {"name": "/panorama/app.py"}, rootfs)
    assert argv == ["/usr/local/bin/python3", "/panorama/app.py"] or argv[0].endswith("python3")
    assert note == ""
    argv, note = image_entry_argv("n", {"path": "python3.8", "name": "app.py"}, rootfs)
    assert argv[1:] == ["/panorama/app.py"] and "no python3.8" in note
    with pytest.raises(LaunchError, match=r"the entry /panorama/absent\.py is not in the image"):
        image_entry_argv("n", {"name": "/panorama/absent.py"}, rootfs)
    with pytest.raises(LaunchError, match="interpreter node is not in the image"):
        image_entry_argv("n", {"path": "node", "name": "/panorama/app.py"}, rootfs)


def test_an_image_for_another_architecture_says_so(tmp_path):
    rootfs = tmp_path / "rootfs"
    (rootfs / "usr" / "bin").mkdir(parents=True)
    (rootfs / "panorama").mkdir()
    (rootfs / "panorama" / "app.py").write_text("")
    python = rootfs / "usr" / "bin" / "python3"
    other = 0xB7 if platform.machine() != "aarch64" else 0x3E  # arm64 here, or x86-64
    python.write_bytes(b"\x7fELF\x02\x01\x01" + bytes(11) + other.to_bytes(2, "little"))
    python.chmod(0o755)
    assert elf_machine(python) in ("aarch64", "x86_64")
    assert elf_machine(Path(sys.executable).resolve()) == platform.machine()
    binfmt = Path(f"/proc/sys/fs/binfmt_misc/qemu-{elf_machine(python)}")
    if binfmt.exists():
        _, note = image_entry_argv("n", {"name": "/panorama/app.py"}, rootfs)
        assert "runs under emulation" in note
    else:
        with pytest.raises(LaunchError, match=f"the image is built for {elf_machine(python)}"):
            image_entry_argv("n", {"name": "/panorama/app.py"}, rootfs)


# --- running one ------------------------------------------------------------------------------
SUPPORT = probe_support()
needs_bwrap = pytest.mark.skipif(
    not SUPPORT.available, reason="bubblewrap (bwrap) is not available or does not work here"
)

SCRIPT = """\
out=/opt/aws/panorama/storage
echo "pwd=$(pwd)" > $out/probe.txt
echo "container=$container" >> $out/probe.txt
echo "python=$PYTHONPATH" >> $out/probe.txt
if echo x > /panorama/x 2>/dev/null; then echo "root=writable" >> $out/probe.txt; else echo "root=read-only" >> $out/probe.txt; fi
read hosts < /etc/hosts; echo "hosts=$hosts" >> $out/probe.txt
echo "args=$*" >> $out/probe.txt
echo started
exec sleep 600
"""  # noqa: E501


def tiny_image(tmp_path: Path) -> bytes:
    """A docker-export-shaped tarball of a tree with the host's dash, sleep and their libraries:
    enough to run a shell entry, in a few hundred KiB."""
    root = tmp_path / "tree"
    for tool in ("/bin/dash", "/bin/sleep"):
        real = Path(os.path.realpath(tool))
        for need in [real, *_libraries(real)]:
            target = root / str(need).lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(need, target)
    (root / "usr" / "bin").mkdir(parents=True, exist_ok=True)
    if not (root / "bin").exists():
        (root / "bin").symlink_to("usr/bin")
    dash = root / "usr" / "bin" / "dash"
    if not dash.exists():
        shutil.copy2("/bin/dash", dash)
    (root / "usr" / "bin" / "sh").symlink_to("dash")
    (root / "panorama").mkdir()
    (root / "panorama" / "run.sh").write_text(SCRIPT)
    (root / "etc").mkdir()
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for entry in sorted(os.listdir(root)):
            tar.add(root / entry, arcname=entry)
    return raw.getvalue()


def _libraries(binary: Path) -> list[Path]:
    done = subprocess.run(["ldd", str(binary)], capture_output=True, text=True, check=True)
    found = []
    for line in done.stdout.splitlines():
        path = line.split("=>")[-1].split("(")[0].strip()
        if path.startswith("/"):
            found += [Path(path), Path(os.path.realpath(path))]
    return found


@needs_bwrap
def test_an_image_runs_as_the_nodes_root_read_only_with_its_entry_in_slash(tmp_path, server):
    image = server.add(tiny_image(tmp_path))
    node = code_node(image)
    node["assets"][0]["descriptor"] = {
        "runtimeDescriptor": {"envelopeVersion": "2021-01-01",
                              "entry": {"path": "sh", "name": "/panorama/run.sh",
                                        "arguments": ["one", "two"]}}
    }  # fmt: skip
    reports = Reports()
    storage = tmp_path / "data" / "apps" / IID / "storage"

    async def main() -> None:
        supervisor = make_supervisor(tmp_path / "data", server, reports, sandbox=None)
        try:
            await supervisor.apply([make_spec(1, [node])])
            await supervisor.settle(30)
            await eventually(lambda: "args=" in _read(storage / "probe.txt"), 20)
            # Redeployed: the image is not downloaded or unpacked again.
            await supervisor.apply([make_spec(2, [node])])
            await supervisor.settle(30)
        finally:
            await supervisor.close()

    run(main)
    assert reports.last()["status"] == "RUNNING", reports.last()
    probe = dict(line.split("=", 1) for line in _read(storage / "probe.txt").splitlines())
    assert probe == {
        "pwd": "/", "container": "podman", "python": "/opt/vantage/python",
        "root": "read-only", "hosts": "127.0.0.1\tlocalhost", "args": "one two",
    }  # fmt: skip
    assert len(server.gets(image["path"])) == 1
    images = tmp_path / "data" / "apps" / "images"
    assert [p.name for p in images.iterdir()] == [image["sha256"]]
    # The archive is not kept beside the unpacked tree.
    assert not (tmp_path / "data" / "apps" / "assets" / image["sha256"]).exists()
    document = json.loads((images / image["sha256"] / "image.json").read_text())
    assert document["files"] > 3


@needs_bwrap
def test_two_instances_of_one_image_share_it(tmp_path, server):
    image = server.add(tiny_image(tmp_path))
    node = code_node(image)
    node["assets"][0]["descriptor"] = {
        "runtimeDescriptor": {"entry": {"path": "sh", "name": "/panorama/run.sh"}}
    }
    other = "applicationInstance-0000000000000000000000othr"
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path / "data", server, reports, sandbox=None)
        try:
            # Both at once: one unpacks (and drops the archive) while the other stages.
            await supervisor.apply([make_spec(1, [node]), make_spec(1, [node], iid=other)])
            await supervisor.settle(30)
        finally:
            await supervisor.close()

    run(main)
    assert reports.last()["status"] == "RUNNING", reports.last()
    assert reports.last(other)["status"] == "RUNNING", reports.last(other)
    images = tmp_path / "data" / "apps" / "images"
    assert [p.name for p in images.iterdir()] == [image["sha256"]]


@needs_bwrap
def test_a_hostile_image_is_an_install_error_that_says_why(tmp_path, server):
    hostile = tarball([(member("usr", tarfile.DIRTYPE), None),
                       (member("/etc/cron.d/evil"), b"* * * * * root sh")])  # fmt: skip
    node = code_node(server.add(hostile))
    node["assets"][0]["descriptor"] = {"runtimeDescriptor": {"entry": {"name": "/x"}}}
    reports = Reports()

    async def main() -> None:
        supervisor = make_supervisor(tmp_path / "data", server, reports, sandbox=None)
        try:
            await supervisor.apply([make_spec(1, [node])])
            await supervisor.settle(30)
        finally:
            await supervisor.close()

    run(main)
    last = reports.last()
    assert last["status"] == "INSTALL_ERROR"
    assert "'/etc/cron.d/evil', an absolute path" in last["message"]


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""

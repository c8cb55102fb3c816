"""An arm64 image (a Jetson-class appliance's) built on an x86-64 machine with
``build-container --platform linux/arm64``, and run as the appliance would, under qemu."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.apps import sandbox
from edge_agent.apps.entry import elf_machine, image_entry_argv
from edge_agent.apps.images import ImageCache
from edge_agent.apps.sandbox import probe_support
from imagebuild.base import host_arch
from imagebuild.builder import cannot_build

FIXTURE = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "app_images" / "numpy_one"
CLI = str(Path(sys.executable).parent / "panorama-cli")
QEMU = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(host_arch() != "amd64", reason="a cross-build from x86-64"),
    pytest.mark.skipif(
        not QEMU.exists() or bool(cannot_build()) or not probe_support().available,
        reason="needs qemu-user-static registered (binfmt_misc), buildah as root and bwrap",
    ),
]


def test_an_arm64_image_builds_here_and_runs_under_emulation(tmp_path):
    project = tmp_path / "numpy_one"
    shutil.copytree(FIXTURE, project)
    done = subprocess.run(
        [CLI, "build-container", "--container-asset-name", "code_asset", "--package-path",
         "packages/123456789012-NUMPY_ONE_CODE-1.0", "--platform", "linux/arm64"],
        cwd=project, capture_output=True, text=True, timeout=1800,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    [archive] = (project / "assets").glob("*.tar.gz")
    sha = archive.name.split(".")[0]
    rootfs = ImageCache(tmp_path / "images", 16 * 1024**3, 8 * 1024**3).unpack(sha, archive)
    assert elf_machine(rootfs / "usr" / "bin" / "python3.11") == "aarch64"
    entry = {"path": "python3", "name": "/panorama/application.py"}
    argv, note = image_entry_argv("code_node", entry, rootfs)
    assert note == "the image is built for aarch64: it runs under emulation (qemu), slowly"
    check = (
        "import numpy, platform, warnings; warnings.simplefilter('ignore'); "
        "print(platform.machine(), numpy.__version__, "
        "numpy.arange(4, dtype=numpy.uint8).tostring().hex())"
    )
    # As the agent starts a node in its image (read-only root, its own /tmp, /proc and /dev).
    (tmp_path / "storage").mkdir()
    command = sandbox.bwrap_argv(
        probe_support().bwrap or "bwrap", code=rootfs / "panorama", storage=tmp_path / "storage",
        logs=tmp_path / "storage", hostname="code_node", info_fd=None, block_fd=None,
        command=[argv[0], "-c", check], rootfs=rootfs,
    )  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert ran.stdout.split() == ["aarch64", "1.24.2", "00010203"], ran.stderr

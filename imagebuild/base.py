"""The base image: Vantage's stand-in for Panorama's ``panorama-application`` image.

A root filesystem made by mmdebstrap from Debian's packages (Debian 12: Python 3.11, NumPy
1.24, boto3, pip, CA certificates, tzdata) plus OpenCV 4 from its wheel, with what a Dockerfile
written for Panorama expects: ``pip3 install`` works as root (Debian's externally-managed marker
is removed, as Ubuntu 20.04 had none), ``apt-get install`` works, and the CA certificates the
build machine trusts locally (``/usr/local/share/ca-certificates``, e.g. a TLS-inspecting
proxy's) are trusted inside too.

The tarball is cached as ``<cache>/base/panorama-application-<version>-<arch>.tar``. Its version
is a hash of everything that goes into it (the recipe below, the mirror, the site CAs), so a
changed recipe builds a new one and an unchanged one is reused. Packages come from the mirror
(``VANTAGE_BASE_MIRROR``, default deb.debian.org; a snapshot.debian.org URL pins them for a
bit-for-bit rebuild) and the OpenCV wheel through pip's own configuration (an index mirror for
an air-gapped site). ``panoramasdk`` is not in it: the agent binds its own at start.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from imagebuild.errors import ImageBuildError

SUITE = "bookworm"
DEBIAN_PACKAGES = (
    "python3", "python3-pip", "python3-numpy", "python3-boto3", "ca-certificates", "tzdata",
)  # fmt: skip
# OpenCV 4 from its wheel: Debian's python3-opencv brings GTK, Qt, VTK and GDAL (1.2 GB).
WHEELS = ("opencv-python-headless==4.10.0.84",)
# Raised when the hooks below change in a way the package lists do not show.
RECIPE_REVISION = 2
DEFAULT_MIRROR = "http://deb.debian.org/debian"
SITE_CAS = Path("/usr/local/share/ca-certificates")
# Fixed file times: the same packages give the same tarball.
SOURCE_DATE_EPOCH = "1767225600"  # 2026-01-01
WHEEL_PLATFORMS = {
    "amd64": ("manylinux_2_17_x86_64", "manylinux2014_x86_64"),
    "arm64": ("manylinux_2_17_aarch64", "manylinux2014_aarch64"),
}
Progress = Callable[[str], None]


def host_arch() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)


def default_cache() -> Path:
    configured = os.environ.get("VANTAGE_IMAGE_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "vantage"


@dataclass(frozen=True)
class BaseImage:
    version: str
    arch: str
    tarball: Path

    @property
    def tag(self) -> str:
        return f"localhost/vantage/panorama-application:{self.version}-{self.arch}"


def _site_cas() -> list[Path]:
    return sorted(SITE_CAS.glob("*.crt")) if SITE_CAS.is_dir() else []


def version(arch: str, mirror: str) -> str:
    """The version of the base image this recipe builds: ``<suite>-r<revision>-<hash>``."""
    recipe = {
        "suite": SUITE, "packages": DEBIAN_PACKAGES, "wheels": WHEELS, "arch": arch,
        "revision": RECIPE_REVISION, "mirror": mirror,
        "site_cas": [hashlib.sha256(p.read_bytes()).hexdigest() for p in _site_cas()],
    }  # fmt: skip
    digest = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()
    return f"{SUITE}-r{RECIPE_REVISION}-{digest[:10]}"


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One build at a time per cache (two test runs, or the stack and the CLI)."""
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def ensure_base_image(
    *, arch: str | None = None, cache: Path | None = None, mirror: str | None = None,
    progress: Progress = print,
) -> BaseImage:  # fmt: skip
    """The base image for ``arch`` (default: this machine's), built unless cached."""
    arch = arch or host_arch()
    if arch not in WHEEL_PLATFORMS:
        raise ImageBuildError(f"unsupported architecture {arch!r}: use amd64 or arm64")
    mirror = mirror or os.environ.get("VANTAGE_BASE_MIRROR") or DEFAULT_MIRROR
    folder = (cache or default_cache()) / "base"
    image = BaseImage(
        version(arch, mirror), arch,
        folder / f"panorama-application-{version(arch, mirror)}-{arch}.tar",
    )  # fmt: skip
    if image.tarball.is_file():
        return image
    with _locked(folder):
        if image.tarball.is_file():  # built meanwhile by another process
            return image
        _build(image, mirror, progress)
    return image


def _build(image: BaseImage, mirror: str, progress: Progress) -> None:
    mmdebstrap = shutil.which("mmdebstrap")
    if mmdebstrap is None:
        raise ImageBuildError(
            "building the base image needs mmdebstrap (Debian package mmdebstrap), or copy a "
            f"built one to {image.tarball}"
        )
    progress(f"Building the base image {image.version} ({image.arch}) with mmdebstrap …")
    with tempfile.TemporaryDirectory(prefix="vantage-base-") as temporary:
        wheels = Path(temporary) / "wheels"
        _download_wheels(image.arch, wheels, progress)
        partial = image.tarball.with_name(f".{image.tarball.name}.partial")
        argv = [
            mmdebstrap, "--variant=apt", f"--architectures={image.arch}",
            f"--include={','.join(DEBIAN_PACKAGES)}",
            "--mode=root" if os.geteuid() == 0 else "--mode=unshare",
            # No device nodes in the tarball: an image has none (the runtime brings /dev).
            "--skip=output/dev",
            *(f"--customize-hook={hook}" for hook in _hooks(wheels, image)),
            "--format=tar", SUITE, str(partial), mirror,
        ]  # fmt: skip
        env = {**os.environ, "SOURCE_DATE_EPOCH": SOURCE_DATE_EPOCH}
        _run_with_progress(argv, env, progress, "mmdebstrap")
        os.replace(partial, image.tarball)
    size = image.tarball.stat().st_size / 1024**2
    progress(f"Base image {image.version} ({image.arch}) built: {image.tarball} ({size:.0f} MiB)")


def _hooks(wheels: Path, image: BaseImage) -> list[str]:
    marker = json.dumps({"version": image.version, "arch": image.arch, "suite": SUITE})
    hooks = [
        # pip3 install as Panorama's Ubuntu 20.04 image allowed it (PEP 668 came later).
        'rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED',
        # apt-get inside a build that maps root to a user cannot switch to _apt.
        'echo \'APT::Sandbox::User "root";\' > "$1"/etc/apt/apt.conf.d/90vantage-sandbox',
        f'mkdir -p "$1"/tmp/wheels && cp {wheels}/*.whl "$1"/tmp/wheels/',
        # The glob is the chroot's: sh in there expands it.
        'chroot "$1" sh -c "python3 -m pip install --no-deps --no-index --no-cache-dir '
        '--break-system-packages /tmp/wheels/*.whl"',
        'rm -rf "$1"/tmp/wheels',
        'mkdir -p "$1"/panorama "$1"/opt/aws/panorama/storage "$1"/opt/aws/panorama/logs',
        f"echo '{marker}' > \"$1\"/etc/vantage-base-image.json",
    ]
    if _site_cas():
        hooks.append(f'cp {SITE_CAS}/*.crt "$1"/usr/local/share/ca-certificates/')
        hooks.append('chroot "$1" update-ca-certificates')
    return hooks


def _download_wheels(arch: str, folder: Path, progress: Progress) -> None:
    progress(f"Fetching {', '.join(WHEELS)} for {arch} with pip …")
    argv = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:"]
    argv += ["--python-version", "3.11", "--dest", str(folder)]
    for tag in WHEEL_PLATFORMS[arch]:
        argv += ["--platform", tag]
    done = subprocess.run([*argv, *WHEELS], capture_output=True, text=True)
    if done.returncode != 0:
        raise ImageBuildError(f"pip could not fetch {', '.join(WHEELS)}: {_tail(done.stderr)}")


def _run_with_progress(argv: list[str], env: dict[str, str], progress: Progress, what: str) -> None:
    """Run a builder, passing its progress lines on; ImageBuildError with its last words."""
    lines: list[str] = []
    with subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            line = line.rstrip()
            lines.append(line)
            if line.startswith(("I: ", "E: ", "W: ")):
                progress(f"  {line}")
    if process.returncode != 0:
        raise ImageBuildError(f"{what} failed (exit status {process.returncode}): {_tail(lines)}")


def _tail(output: str | list[str], count: int = 8) -> str:
    lines = output.splitlines() if isinstance(output, str) else output
    return "\n".join(line for line in lines[-count:] if line.strip())

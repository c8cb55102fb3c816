"""A package's Dockerfile built with buildah, and the image exported as panorama-cli exports it.

panorama-cli ran ``docker build -t A P --pull``, then ``docker export $(docker create A)``,
gzip -1, and named the result by its sha256. Here buildah (Debian package ``buildah``) builds,
with ``FROM public.ecr.aws/panorama/panorama-application[:tag]`` answered by the base image
(``base.py``), so nothing is pulled for it; the export is the container's whole filesystem,
without image metadata: ENV and CMD do not travel, exactly as with ``docker export``.

buildah keeps its own store under the Vantage cache (``<cache>/containers``), so it neither
needs nor touches a system's Docker or Podman images. ``RUN`` steps use the host's network
and buildah's chroot isolation (it works in VMs and containers without cgroup delegation);
``BUILDAH_ISOLATION=oci`` chooses the OCI runtime instead. As root only: a regular user runs
the CLI under ``buildah unshare``.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from imagebuild.base import BaseImage, default_cache, ensure_base_image
from imagebuild.errors import ImageBuildError

PANORAMA_BASE = "public.ecr.aws/panorama/panorama-application"
FROM_LINE = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)", re.IGNORECASE | re.MULTILINE)
CHUNK = 1024 * 1024
Progress = Callable[[str], None]


def base_references(dockerfile: Path) -> list[str]:
    """The references to Panorama's base image in a Dockerfile's FROM lines, with their tag."""
    found = []
    for reference in FROM_LINE.findall(dockerfile.read_text(errors="replace")):
        if reference.split("@")[0].split(":")[0] != PANORAMA_BASE:
            continue
        if "@" in reference:
            raise ImageBuildError(
                f"{dockerfile}: FROM {reference} pins Panorama's base image by digest; Vantage's "
                f"base image has its own: use FROM {PANORAMA_BASE} (any tag)"
            )
        found.append(reference if ":" in reference.rsplit("/", 1)[-1] else f"{reference}:latest")
    return found


class Buildah:
    def __init__(self, cache: Path | None = None) -> None:
        binary = shutil.which("buildah")
        if binary is None:
            raise ImageBuildError(
                "building a Dockerfile needs buildah (Debian package buildah); a package "
                "without a Dockerfile is packed without it"
            )
        if os.geteuid() != 0:
            raise ImageBuildError(
                "buildah builds as root here: run this command as root, or under "
                "'buildah unshare' as a regular user"
            )
        store = (cache or default_cache()) / "containers"
        driver = os.environ.get("VANTAGE_BUILDAH_STORAGE_DRIVER", "overlay")
        self.argv = [binary, "--root", str(store / "storage"), "--runroot", str(store / "run")]
        self.argv += ["--storage-driver", driver]
        self.isolation = os.environ.get("BUILDAH_ISOLATION", "chroot")

    def _run(self, *args: str, what: str, progress: Progress | None = None) -> str:
        """Run buildah; its output (passed on line by line to ``progress`` when given)."""
        lines: list[str] = []
        with subprocess.Popen(
            [*self.argv, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            stdin=subprocess.DEVNULL,
        ) as process:  # fmt: skip
            assert process.stdout is not None
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                if progress is not None:
                    progress(line.rstrip("\n"))
        if process.returncode != 0:
            tail = "\n".join(lines[-12:])
            raise ImageBuildError(
                f"{what} failed (buildah exit status {process.returncode}):\n{tail}"
            )
        return "\n".join(lines)

    def has_image(self, reference: str) -> bool:
        done = subprocess.run(
            [*self.argv, "inspect", "--type", "image", reference], capture_output=True
        )
        return done.returncode == 0

    # --- the base image in buildah's store --------------------------------------------------
    def ensure_base(self, base: BaseImage, progress: Progress = print) -> None:
        if self.has_image(base.tag):
            return
        progress(f"Importing the base image {base.version} into buildah's store …")
        container = self._run("from", "--quiet", "scratch", what="buildah from scratch").strip()
        try:
            self._run("add", "--quiet", container, str(base.tarball), "/", what="importing")
            config = ["config", "--workingdir", "/", "--cmd", '["python3"]']
            config += ["--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
            config += ["--env", "LANG=C.UTF-8", "--env", "LC_ALL=C.UTF-8"]
            # Only while building: an exported filesystem carries no ENV.
            config += ["--env", "PIP_CERT=/etc/ssl/certs/ca-certificates.crt"]
            config += ["--env", "DEBIAN_FRONTEND=noninteractive"]
            config += ["--arch", base.arch, "--os", "linux"]
            self._run(*config, container, what="configuring the base image")
            self._run("commit", "--quiet", container, base.tag, what="committing the base image")
        finally:
            subprocess.run([*self.argv, "rm", container], capture_output=True)

    def use_base_for(
        self, dockerfile: Path, *, arch: str | None = None, progress: Progress = print
    ) -> None:
        """Make the Dockerfile's ``FROM <Panorama's base>[:tag]`` lines find the base image of
        ``arch`` (built and imported first if need be)."""
        references = base_references(dockerfile)
        if references:
            base = ensure_base_image(arch=arch, progress=progress)
            self.ensure_base(base, progress=progress)
            self.tag_base(base, references)

    def tag_base(self, base: BaseImage, references: list[str]) -> None:
        """Make ``FROM <Panorama's base>[:tag]`` find the base image, for each tag used."""
        for reference in references:
            self._run("tag", base.tag, reference, what=f"tagging {reference}")

    # --- building and exporting -------------------------------------------------------------
    def build(
        self, context: Path, dockerfile: Path, tag: str, *, pull: bool, progress: Progress = print,
        arch: str | None = None,
    ) -> None:  # fmt: skip
        """``arch``: build for another architecture than this machine's (``arm64`` on x86-64:
        RUN steps run under qemu-user-static)."""
        args = ["build", "--layers", "--network", "host", "--isolation", self.isolation]
        if arch is not None:
            args += ["--platform", f"linux/{arch}"]
        # Images other than Panorama's base (a multi-stage build's) come from their registry
        # when missing; --local-image uses only what the store holds.
        args += ["--pull=missing" if pull else "--pull=never", "-f", str(dockerfile), "-t", tag]
        self._run(*args, str(context), what=f"building {dockerfile}", progress=progress)

    def export(
        self, image: str, folder: Path, progress: Progress = print, *, pull: bool = False
    ) -> tuple[str, Path]:
        """The image's filesystem as ``<folder>/<sha256>.tar.gz``, as ``docker export`` of a
        container made from it and ``gzip -1`` give it; (sha256, path). ``pull``: fetch the
        image when the store lacks it (a registry, or a ``docker-archive:``/``oci-archive:``
        file)."""
        policy = "--pull=missing" if pull else "--pull=never"
        container = self._run(
            "from", "--quiet", policy, image, what=f"creating a container of {image}"
        )
        container = container.strip().splitlines()[-1]
        try:
            mount = Path(self._run("mount", container, what="mounting the container").strip())
            progress(f"Exporting the container filesystem of {image} …")
            return _tar_gz(mount, folder)
        finally:
            subprocess.run([*self.argv, "umount", container], capture_output=True)
            subprocess.run([*self.argv, "rm", container], capture_output=True)


def build_and_export(
    context: Path, dockerfile: Path, tag: str, folder: Path, *, pull: bool = False,
    arch: str | None = None, progress: Progress = print,
) -> tuple[str, Path]:  # fmt: skip
    """``build-container``'s work: the Dockerfile built on the base image as ``tag`` and its
    filesystem exported to ``folder``; (sha256, path)."""
    buildah = Buildah()
    buildah.use_base_for(dockerfile, arch=arch, progress=progress)
    buildah.build(context, dockerfile, tag, pull=pull, progress=progress, arch=arch)
    return buildah.export(tag, folder, progress=progress)


def _tar_gz(root: Path, folder: Path) -> tuple[str, Path]:
    """``root`` as a gzip'd tar named by its sha256 in ``folder``: members without a leading
    ``./`` (as docker export writes them), numeric owners, sorted for a stable archive."""
    entries = sorted(os.listdir(root))
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=".export.", suffix=".tar.gz")
    digest = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out:
            tar = subprocess.Popen(
                ["tar", "--numeric-owner", "--sort=name", "--xattrs", "-C", str(root), "-cf", "-",
                 "--", *entries],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip
            gzip = subprocess.Popen(["gzip", "-1", "-n"], stdin=tar.stdout, stdout=subprocess.PIPE)
            assert tar.stdout is not None and gzip.stdout is not None
            tar.stdout.close()  # gzip holds it now; tar sees SIGPIPE if gzip dies
            while chunk := gzip.stdout.read(CHUNK):
                digest.update(chunk)
                out.write(chunk)
            gzip.wait()
            _, tar_errors = tar.communicate()
        if tar.returncode != 0 or gzip.returncode != 0:
            raise ImageBuildError(
                f"exporting the filesystem failed: {tar_errors.decode(errors='replace')[-500:]}"
            )
        sha = digest.hexdigest()
        final = folder / f"{sha}.tar.gz"
        os.chmod(temporary, 0o644)
        os.replace(temporary, final)
        return sha, final
    finally:
        Path(temporary).unlink(missing_ok=True)


def cannot_build() -> str:
    """Why Dockerfiles cannot be built on this machine ("" when they can)."""
    if shutil.which("buildah") is None:
        return "buildah is not installed (Debian package buildah)"
    if os.geteuid() != 0:
        return "building images needs root (or a shell under 'buildah unshare')"
    return ""

"""Running a code node in a bubblewrap sandbox, and reaching into its network namespace.

The sandbox is a fresh root of read-only binds (the system's /usr and libraries, a few files of
/etc, the agent's Python), the node's code at ``/panorama`` (read-only) and its two writable
folders at ``/opt/aws/panorama/storage`` and ``/opt/aws/panorama/logs``. It gets its own user,
PID, IPC, UTS, cgroup and network namespaces, runs as uid 1000 with no capabilities, and dies
with the agent.

Its network namespace has only a loopback interface, so nothing outside reaches a port it
opens. The agent reaches in for the confirmed inbound ports (``forward.py``) by creating the
connection's socket inside that namespace (``setns`` in a throw-away thread, root only), and
gives it outbound access with ``pasta`` (Debian ``passt``) when that is installed.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import os
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from edge_agent.apps.gpu import GpuAccess
from edge_agent.apps.gpu import bwrap_args as gpu_bwrap_args
from edge_agent.runtime import PYTHON_DIR_IN_SANDBOX, RUNTIME_DIR_IN_SANDBOX

logger = logging.getLogger("edge_agent.apps.sandbox")
CLONE_NEWNET = 0x40000000
SANDBOX_UID = 1000
CODE_DIR = "/panorama"
STORAGE_DIR = "/opt/aws/panorama/storage"
LOGS_DIR = "/opt/aws/panorama/logs"
# Files of /etc a Python program needs for TLS, DNS and time zones; bound when they exist.
ETC_FILES = (
    "/etc/ssl",
    "/etc/ca-certificates",
    "/etc/pki",
    "/etc/resolv.conf",
    "/etc/hosts",
    "/etc/nsswitch.conf",
    "/etc/localtime",
    "/etc/ld.so.cache",
    "/etc/alternatives",
)


@dataclass(frozen=True)
class SandboxSupport:
    bwrap: str | None  # the working bwrap binary, None when unavailable
    pasta: str | None  # pasta for outbound access, None when not installed
    can_enter_netns: bool  # setns into a sandbox's network namespace works (the agent is root)
    can_unshare_net: bool = False  # a root agent can make user and network namespaces

    @property
    def available(self) -> bool:
        return self.bwrap is not None


@functools.cache
def probe_support() -> SandboxSupport:
    """Whether bubblewrap works here; checked once per agent process."""
    bwrap = shutil.which("bwrap")
    if bwrap is not None:
        try:
            # The smallest sandbox the agent will ask for: new namespaces of every kind.
            probe = subprocess.run(
                [bwrap, "--unshare-all", "--ro-bind", "/", "/", "--", "true"],
                capture_output=True,
                timeout=10,
            )
            if probe.returncode != 0:
                logger.warning(
                    "bubblewrap (%s) does not work here: %s", bwrap,
                    probe.stderr.decode(errors="replace").strip()[:300],
                )  # fmt: skip
                bwrap = None
        except (OSError, subprocess.TimeoutExpired) as exc:
            logger.warning("bubblewrap (%s) does not work here: %s", bwrap, exc)
            bwrap = None
    root = os.geteuid() == 0
    return SandboxSupport(
        bwrap=bwrap, pasta=shutil.which("pasta"), can_enter_netns=root,
        can_unshare_net=root and _unshare_works(),
    )  # fmt: skip


def _unshare_works() -> bool:
    """Whether new user and network namespaces can be made (a kernel or container may not)."""
    check = "import ctypes, sys; sys.exit(ctypes.CDLL(None).unshare(0x10000000 | 0x40000000))"
    try:
        return subprocess.run([sys.executable, "-c", check], timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _python_dirs() -> list[Path]:
    """Folders the agent's own Python needs: the venv and the installation it comes from."""
    dirs = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix)}
    dirs.add(Path(os.path.realpath(sys.executable)).parent.parent)
    system = ("/usr", "/bin", "/lib", "/lib64", "/sbin")
    return sorted(d for d in dirs if d.is_dir() and not str(d).startswith(system))


# The runtime modules panoramasdk imports: plain Python 3.8 with NumPy, as they run under the
# application image's own interpreter (panoramasdk/tests/test_portable.py checks both).
SDK_RUNTIME_MODULES = ("__init__.py", "records.py", "ring.py", "modelwire.py", "tensors.py")


def sdk_binds() -> list[tuple[Path, str]]:
    """What a sandboxed code node needs to ``import panoramasdk``, and where it goes."""
    root = Path(__file__).resolve().parents[2]
    inside = f"{PYTHON_DIR_IN_SANDBOX}/edge_agent"
    binds = [
        (root / "panoramasdk", f"{PYTHON_DIR_IN_SANDBOX}/panoramasdk"),
        (root / "edge_agent" / "__init__.py", f"{inside}/__init__.py"),
    ]
    for name in SDK_RUNTIME_MODULES:
        binds.append((root / "edge_agent" / "runtime" / name, f"{inside}/runtime/{name}"))
    return binds


def sdk_path() -> str:
    """PYTHONPATH for an unsandboxed code node (the folder holding panoramasdk)."""
    return str(Path(__file__).resolve().parents[2])


def bwrap_argv(
    bwrap: str,
    *,
    code: Path,
    storage: Path,
    logs: Path,
    hostname: str,
    info_fd: int | None,
    block_fd: int | None,
    command: list[str],
    runtime: Path | None = None,
    rootfs: Path | None = None,
    gpu: GpuAccess | None = None,
) -> list[str]:
    """bwrap's command line: the host's system with the node's code at /panorama, or, given
    ``rootfs`` (an unpacked container image, images.py), that tree as ``/``. ``info_fd`` and
    ``block_fd``: bwrap's handshake (spawn.py); None to start at once."""
    argv = [bwrap, "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    argv += ["--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID), "--hostname", hostname]
    if rootfs is not None:
        argv += _image_root(rootfs)
    else:
        argv += _host_root(code)
    argv += ["--bind", str(storage), STORAGE_DIR, "--bind", str(logs), LOGS_DIR]
    if gpu is not None:
        argv += gpu_bwrap_args(gpu, image=rootfs is not None)
    if runtime is not None:
        # The edge runtime: its shared-memory folder, and panoramasdk with the runtime modules it
        # uses (nothing else of the agent: the sandbox sees no agent code, keys or settings).
        # In an image they go on a tmpfs of their own, as the image's tree is read-only.
        if rootfs is not None:
            argv += ["--tmpfs", PYTHON_DIR_IN_SANDBOX]
        argv += ["--bind", str(runtime), RUNTIME_DIR_IN_SANDBOX]
        for source, target in sdk_binds():
            argv += ["--ro-bind", str(source), target]
    if rootfs is None:
        # The root bwrap builds is a writable tmpfs: make it read-only once everything is
        # bound, so only storage, logs and the sandbox's own /tmp take writes.
        argv += ["--remount-ro", "/"]
    # Panorama starts an image's entry in /, and Vantage's code-only nodes in their code.
    argv += ["--chdir", "/" if rootfs is not None else CODE_DIR]
    if info_fd is not None and block_fd is not None:
        argv += ["--info-fd", str(info_fd), "--block-fd", str(block_fd)]
    return [*argv, "--", *command]


def _host_root(code: Path) -> list[str]:
    argv = ["--ro-bind", "/usr", "/usr"]
    for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"):
        path = Path(top)
        if path.is_symlink():  # merged /usr: /bin -> usr/bin
            argv += ["--symlink", os.readlink(path), top]
        elif path.is_dir():
            argv += ["--ro-bind", top, top]
    for name in ETC_FILES:
        argv += ["--ro-bind-try", name, name]
    # The sandbox's own /tmp comes before the interpreter's binds: an agent installed under /tmp
    # (a checkout in /tmp/x) has its Python there, and a later tmpfs would hide it.
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]  # noqa: S108 (its own)
    for folder in _python_dirs():
        argv += ["--ro-bind", str(folder), str(folder)]
    return [*argv, "--ro-bind", str(code), CODE_DIR]


def _image_root(rootfs: Path) -> list[str]:
    # The tree is read-only, and every mount point below exists in it (images.MOUNT_DIRS).
    argv = ["--ro-bind", str(rootfs), "/", "--proc", "/proc", "--dev", "/dev"]
    argv += ["--tmpfs", "/tmp", "--tmpfs", "/run"]  # noqa: S108 (its own)
    # Name resolution as the appliance has it (the image's own files are placeholders).
    return [*argv, "--ro-bind-try", "/etc/resolv.conf", "/etc/resolv.conf"]


def _in_netns(pid: int, action):  # type: ignore[no-untyped-def]
    """Run ``action()`` in a new thread that joined ``pid``'s network namespace.

    Network namespaces belong to threads, and a socket stays in the namespace it was created
    in; the thread ends right after, so no other work ever runs in the wrong namespace.
    """
    result: dict[str, object] = {}

    def work() -> None:
        try:
            fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            try:
                libc = ctypes.CDLL(None, use_errno=True)
                if libc.setns(fd, CLONE_NEWNET) != 0:
                    error = ctypes.get_errno()
                    raise OSError(error, f"setns: {os.strerror(error)}")
            finally:
                os.close(fd)
            result["value"] = action()
        except BaseException as exc:  # handed to the caller's thread
            result["error"] = exc

    thread = threading.Thread(target=work, name=f"netns-{pid}", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["value"]


def allow_low_ports(pid: int) -> None:
    """Let the sandbox's unprivileged user bind ports below 1024 (Panorama apps serve on 80)
    in its own namespace only."""

    def write() -> None:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start", "w") as handle:
            handle.write("0")

    _in_netns(pid, write)


def socket_in_netns(pid: int) -> socket.socket:
    """A TCP socket that lives in ``pid``'s network namespace (connect it to 127.0.0.1)."""
    sock: socket.socket = _in_netns(pid, lambda: socket.socket(socket.AF_INET, socket.SOCK_STREAM))
    return sock


def start_pasta(pasta: str, pid: int, pid_file: Path) -> int | None:
    """Give the namespace outbound access through pasta; pasta's PID, or None if it failed.

    No port is forwarded either way (``none``): inbound traffic comes only through the agent's
    forwarders for confirmed ports; and the gateway address is not mapped to the host, so the
    host's loopback services stay out of reach.
    """
    argv = [pasta, "--config-net", "--quiet", "-P", str(pid_file)]
    if os.geteuid() == 0:
        # As root, pasta would switch to "nobody", who may not enter the sandbox's namespace.
        argv += ["--runas", "0"]
    argv += ["-t", "none", "-u", "none", "-T", "none", "-U", "none", "--no-map-gw"]
    argv += ["--netns", f"/proc/{pid}/ns/net"]
    pid_file.unlink(missing_ok=True)  # pasta may not truncate an older, longer PID
    try:
        # pasta goes to the background once the namespace is configured.
        done = subprocess.run(argv, capture_output=True, timeout=20, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        logger.warning("pasta failed to start: %s", exc)
        return None
    if done.returncode != 0:
        logger.warning(
            "pasta failed (exit status %d): %s", done.returncode,
            done.stderr.decode(errors="replace").strip()[-300:],
        )  # fmt: skip
        return None
    try:
        return int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        logger.warning("pasta started, but its PID file %s cannot be read.", pid_file)
        return None

"""The converters' own virtual environments, one per framework, and running a worker in one.

Each framework's converter needs a numpy, protobuf and onnx that neither the console nor the
other converters can share (TensorFlow 2.15 wants numpy<2, MXNet 1.9 wants numpy<1.24), so
each lives in its own venv under ``$VANTAGE_COMPILER_HOME`` (default
``~/.cache/vantage/compilers``), named by the hash of its pinned requirements file: changing
the pins makes a new env instead of patching an old one. A compile never installs one; only
``python -m modelcompile install`` does (see ``install``).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from modelcompile.errors import CompileError, FrameworkMissing

PACKAGE_DIR = Path(__file__).resolve().parent
REQUIREMENTS_DIR = PACKAGE_DIR / "requirements"
WORKERS_DIR = PACKAGE_DIR / "workers"

# The descriptor's framework -> the env (and requirements file, worker script) that compiles it.
ENV_OF = {"PYTORCH": "pytorch", "TENSORFLOW": "tensorflow", "MXNET": "mxnet"}
ENVS = tuple(ENV_OF.values())
# What an env must import once installed, else it is not ready.
SMOKE = {
    "pytorch": "import torch, onnx, numpy",
    "tensorflow": "import tensorflow, tf2onnx, onnx, numpy",
    "mxnet": "import mxnet, mxnet.onnx, onnx, numpy",
}
STAMP = ".vantage-ready"
WORKER_TIMEOUT_S = int(os.environ.get("VANTAGE_COMPILER_TIMEOUT", "900"))
STDERR_LINES = 15


def compiler_home() -> Path:
    home = os.environ.get("VANTAGE_COMPILER_HOME")
    return Path(home) if home else Path.home() / ".cache" / "vantage" / "compilers"


def requirements_file(env: str) -> Path:
    return REQUIREMENTS_DIR / f"{env}.txt"


def requirements_hash(env: str) -> str:
    return hashlib.sha256(requirements_file(env).read_bytes()).hexdigest()[:12]


def env_dir(env: str) -> Path:
    return compiler_home() / f"{env}-{requirements_hash(env)}"


def env_python(env: str) -> Path:
    return env_dir(env) / "bin" / "python"


def install_command(env: str) -> str:
    """The exact command that installs ``env`` (what FrameworkMissing tells the operator)."""
    return f"{shlex.quote(sys.executable)} -m modelcompile install {env}"


def env_name(framework: str) -> str | None:
    """The env for a descriptor framework (any case); None for ONNX, which needs none."""
    fw = framework.upper()
    if fw == "ONNX":
        return None
    if fw not in ENV_OF:
        raise CompileError(
            f"unknown model framework '{framework}': Vantage compiles TENSORFLOW, PYTORCH, "
            "MXNET and ONNX models"
        )
    return ENV_OF[fw]


def _stamp_text(env: str) -> str:
    return json.dumps(
        {"requirements": requirements_hash(env), "python": sys.version.split()[0]},
        sort_keys=True,
    )


def env_problem(env: str) -> str | None:
    """None when ``env`` is installed and ready; else why not."""
    folder = env_dir(env)
    if not (folder / STAMP).is_file():
        return f"no {env} environment in {folder}"
    if not env_python(env).exists():
        return f"the {env} environment in {folder} has no python (damaged; install it again)"
    return None


def framework_available(framework: str) -> str | None:
    """None if this machine can compile ``framework`` models, else the reason and what to run."""
    try:
        env = env_name(framework)
    except CompileError as exc:
        return str(exc)
    if env is None:
        return None
    problem = env_problem(env)
    if problem is None:
        return None
    return f"{problem}; install it with: {install_command(env)}"


def require_env(framework: str) -> str | None:
    """The env's name, ready to use, or FrameworkMissing (ONNX: None)."""
    env = env_name(framework)
    if env is not None:
        problem = env_problem(env)
        if problem is not None:
            raise FrameworkMissing(framework.upper(), install_command(env), problem)
    return env


# --- installing -------------------------------------------------------------------------------
@contextmanager
def _locked(env: str) -> Iterator[None]:
    # Two installers at once (./vantage test in two checkouts) would pip into the same folder.
    home = compiler_home()
    home.mkdir(parents=True, exist_ok=True)
    with (home / f".{env}.lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _tail(text: str, lines: int = STDERR_LINES) -> str:
    # pip configured with local find-links repeats a harmless warning per package; drop it so
    # the lines that matter show.
    kept = [
        line
        for line in text.splitlines()
        if line.strip() and not re.match(r"WARNING: Location '.*' is ignored", line)
    ]
    return "\n".join(kept[-lines:])


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def install(env: str, progress: Callable[[str], None] = print) -> Path:
    """Create ``env``'s venv from its pinned requirements (idempotent); its folder."""
    if env not in ENVS:
        raise CompileError(f"unknown environment '{env}' (one of: {', '.join(ENVS)}, all)")
    folder = env_dir(env)
    with _locked(env):
        if env_problem(env) is None:
            progress(f"{env}: ready in {folder}")
            return folder
        started = time.monotonic()
        if folder.exists():
            shutil.rmtree(folder)  # a half-built env from an interrupted install
        progress(f"{env}: creating {folder}")
        log = folder.parent / f"{folder.name}.install.log"
        steps = [
            [sys.executable, "-m", "venv", str(folder)],
            [str(folder / "bin/python"), "-m", "pip", "install", "-q", "--upgrade", "pip"],
            [
                str(folder / "bin/python"), "-m", "pip", "install", "-q", "--progress-bar",
                "off", "-r", str(requirements_file(env)),
            ],
            [str(folder / "bin/python"), "-I", "-c", SMOKE[env]],
        ]  # fmt: skip
        labels = ["creating the venv", "upgrading pip", "installing packages", "checking imports"]
        with log.open("w") as out:
            for label, step in zip(labels, steps, strict=True):
                progress(f"{env}: {label} …")
                done = subprocess.run(step, stdout=out, stderr=subprocess.STDOUT, check=False)
                if done.returncode != 0:
                    out.flush()
                    raise CompileError(
                        f"installing the {env} environment failed while {label} "
                        f"(log: {log}):\n{_tail(log.read_text(errors='replace'))}"
                    )
        (folder / STAMP).write_text(_stamp_text(env))
        size_mb = _size(folder) / 2**20
        took = time.monotonic() - started
        progress(f"{env}: ready in {folder} ({size_mb:,.0f} MiB, {took:.0f} s)")
        return folder


# --- running a worker -------------------------------------------------------------------------
def run_worker(
    env: str,
    script: str,
    job: dict,
    work: Path,
    *,
    python: Path | None = None,
    timeout_s: float | None = None,
) -> dict:
    """Run ``workers/<script>`` with ``env``'s python on ``job``; the result it wrote.

    The worker runs isolated (``-I``: no user site, no PYTHON* variables, not the repo on
    sys.path) so that only its env's packages are importable. It writes its result JSON;
    a failure it understood comes back as ``{"error": ...}`` and becomes a CompileError with
    that message, anything else as the last lines of its stderr."""
    work.mkdir(parents=True, exist_ok=True)
    job_file = work / f"{script}.job.json"
    result_file = work / f"{script}.result.json"
    result_file.unlink(missing_ok=True)
    job_file.write_text(json.dumps({**job, "result": str(result_file)}))
    environ = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",  # TensorFlow's banner would crowd out the real error
        "PYTHONHASHSEED": "0",
        "CUDA_VISIBLE_DEVICES": "",  # converters run on the CPU; no GPU build is installed
    }
    command = [str(python or env_python(env)), "-I", str(WORKERS_DIR / f"{script}.py")]
    limit = timeout_s or WORKER_TIMEOUT_S
    try:
        done = subprocess.run(
            [*command, str(job_file)], capture_output=True, text=True, errors="replace",
            timeout=limit, env=environ, cwd=work, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        raise CompileError(
            f"the {env} converter did not finish within {limit:.0f} s; a model this slow to "
            "convert may be too large for this machine (VANTAGE_COMPILER_TIMEOUT raises the limit)"
        ) from None
    result = None
    if result_file.is_file():
        try:
            result = json.loads(result_file.read_text())
        except ValueError:
            result = None
    if isinstance(result, dict) and result.get("error"):
        raise CompileError(str(result["error"]))
    if done.returncode != 0 or not isinstance(result, dict):
        status = f"exit status {done.returncode}" if done.returncode >= 0 else "killed"
        raise CompileError(
            f"the {env} converter failed ({status}); its last output:\n"
            f"{_tail(done.stderr) or _tail(done.stdout) or '(nothing)'}"
        )
    return result

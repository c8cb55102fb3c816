"""Small models shaped like Panorama's samples, for tests here and in the console.

Each ``make_*`` builds its model in the framework's converter env (which must be installed:
``python -m modelcompile install``; FrameworkMissing otherwise), caches it under the compiler
home keyed by the generator script's hash, and copies the archive into ``folder``. It returns
the archive and the descriptor document (``{"mlModelDescriptor": {...}}``)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from modelcompile import envs
from modelcompile.compiler import InputDecl
from modelcompile.errors import CompileError, FrameworkMissing

GENERATORS = Path(__file__).resolve().parent / "fixturegen"


def _generate(env: str, script: str, variant: str = "") -> Path:
    source = (GENERATORS / f"{script}.py").read_bytes()
    key = hashlib.sha256(source + b"\0" + variant.encode()).hexdigest()[:12]
    name = f"{script}{'-' + variant if variant else ''}-{envs.requirements_hash(env)}-{key}"
    cached = envs.compiler_home() / "fixtures" / name
    if (cached / "descriptor.json").is_file():
        return cached
    problem = envs.env_problem(env)
    if problem is not None:
        raise FrameworkMissing(env, envs.install_command(env), problem)
    cached.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the cache and rename into place, so a killed run leaves no half a fixture.
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=cached.parent))
    try:
        done = subprocess.run(
            [str(envs.env_python(env)), "-I", str(GENERATORS / f"{script}.py"), str(scratch),
             variant],
            capture_output=True, text=True, timeout=600, check=False,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""},
        )  # fmt: skip
        if done.returncode != 0:
            raise CompileError(f"making the {script} test model failed:\n{envs._tail(done.stderr)}")
        shutil.rmtree(scratch / "files", ignore_errors=True)
        with contextlib.suppress(OSError):  # another run made it meanwhile; theirs is the same
            scratch.rename(cached)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return cached


def _deliver(cached: Path, folder: Path, name: str) -> tuple[Path, dict]:
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / name
    shutil.copyfile(cached / "model.tar.gz", archive)
    return archive, json.loads((cached / "descriptor.json").read_text())


def make_torch_classifier(folder: Path) -> tuple[Path, dict]:
    """A TorchScript SqueezeNet-shaped classifier: ``data`` float32 [1,3,224,224] -> 1000."""
    return _deliver(_generate("pytorch", "torch_classifier"), folder, "squeezenet.tar.gz")


def make_torch_eager_pickle(folder: Path) -> tuple[Path, dict]:
    """The same classifier pickled with torch.save: what the compile refuses, with advice."""
    return _deliver(_generate("pytorch", "torch_classifier", "eager"), folder, "eager.tar.gz")


def make_tf_detector(folder: Path) -> tuple[Path, dict]:
    """A TF SSD-shaped SavedModel detector: ``image_tensor`` uint8 [1,300,300,3] (descriptor
    without ``type``) -> detection_boxes, detection_classes, detection_scores,
    num_detections."""
    return _deliver(_generate("tensorflow", "tf_detector"), folder, "ssd.tar.gz")


def make_tf_frozen_detector(folder: Path) -> tuple[Path, dict]:
    """The same detector as a frozen GraphDef (frozen_inference_graph.pb)."""
    return _deliver(_generate("tensorflow", "tf_detector", "frozen"), folder, "ssd-frozen.tar.gz")


def make_mxnet_two_outputs(folder: Path) -> tuple[Path, dict]:
    """An MXNet checkpoint with two outputs: ``data`` float32 [1,3,128,128] -> [1,10], [1,4]."""
    return _deliver(_generate("mxnet", "mxnet_two_outputs"), folder, "two_outputs.tar.gz")


def inputs_of(descriptor: dict) -> list[InputDecl]:
    """The descriptor document's inputs as compile_model takes them."""
    return [
        InputDecl(i["name"], list(i["shape"]), i.get("type"))
        for i in descriptor["mlModelDescriptor"]["inputs"]
    ]

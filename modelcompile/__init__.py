"""Vantage's "Neo": compiling Panorama model assets (TensorFlow, PyTorch, MXNet, ONNX) to the
ONNX that appliances run, each compile checked against the framework's own outputs. Plain
Python, no Django.

- ``compiler.py``: ``compile_model`` and its result, ``cache_key``.
- ``archive.py``: unpacking uploads safely, finding the model, packing the result.
- ``envs.py``: the converters' own venvs (``python -m modelcompile install``) and workers.
- ``workers/``: the converters, run with their env's python (no imports from the repo).
- ``check.py``: onnxruntime against the framework's outputs, with the tolerance.
- ``testing.py``: small models shaped like Panorama's samples, for tests.

See docs/models.md.
"""

from modelcompile.compiler import (
    COMPILER_VERSION,
    CompileResult,
    InputDecl,
    cache_key,
    compile_model,
)
from modelcompile.envs import framework_available
from modelcompile.errors import CompileError, FrameworkMissing

__all__ = [
    "COMPILER_VERSION",
    "CompileError",
    "CompileResult",
    "FrameworkMissing",
    "InputDecl",
    "cache_key",
    "compile_model",
    "framework_available",
]

"""modelcompile is plain Python: no Django, no console; its workers and fixture generators run
with a converter env's python and may import nothing from the repository."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
FORBIDDEN = {"django", "rest_framework", "channels", "celery", "console", "devices",
             "datasources", "applications"}  # fmt: skip
# What a converter env has besides the standard library.
ENV_PACKAGES = {"numpy", "onnx", "torch", "tensorflow", "tf2onnx", "mxnet", "_job"}


def imports(path: Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names += [alias.name.split(".")[0] for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module.split(".")[0])
    return names


def test_no_django_or_console():
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for path in PACKAGE.rglob("*.py")
        for name in imports(path)
        if name in FORBIDDEN
    ]
    assert not offenders
    done = subprocess.run(
        [sys.executable, "-c", "import sys, modelcompile; assert 'django' not in sys.modules"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_workers_import_only_their_env():
    offenders = [
        f"{path.relative_to(PACKAGE)}: {name}"
        for folder in ("workers", "fixturegen")
        for path in (PACKAGE / folder).glob("*.py")
        for name in imports(path)
        if name not in ENV_PACKAGES and name not in sys.stdlib_module_names
    ]
    assert not offenders

"""What is bound into an application's image runs under that image's Python and NumPy.

An image built for Panorama has Python 3.8 and NumPy 1.24; the SDK and the runtime modules it
imports are bound into it at start (``/opt/vantage/python``), so they may use nothing newer and
import nothing the image may lack. Checked here without a Python 3.8: vermin for library and
syntax features, and an AST walk for ``X | Y`` evaluated at run time (Python 3.10), which
vermin cannot tell from annotations.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from edge_agent.apps.sandbox import sdk_binds
from edge_agent.runtime.records import CodeNodeConfig, ParameterInput, PutRecord, TensorSpec

ROOT = Path(__file__).resolve().parents[2]
ALLOWED_IMPORTS = {"numpy", "panoramasdk", "edge_agent"}


def bound_modules() -> list[Path]:
    files: list[Path] = []
    for source, _ in sdk_binds():
        files += sorted(source.rglob("*.py")) if source.is_dir() else [source]
    return [f for f in files if "tests" not in f.relative_to(ROOT).parts]


def imported_by_the_sdk() -> set[str]:
    """The modules ``import panoramasdk`` loads from the project, found by importing it."""
    script = (
        "import sys, json; import panoramasdk; "
        "print(json.dumps(sorted(m.__file__ for m in list(sys.modules.values()) "
        "if getattr(m, '__file__', None))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=True
    )
    project = [str(ROOT / top) for top in ("panoramasdk", "edge_agent")]
    return {f for f in json.loads(done.stdout) if f.startswith(tuple(project))}


def test_the_sdk_imports_only_what_is_bound_into_the_image():
    bound = {str(p) for p in bound_modules()}
    loaded = imported_by_the_sdk()
    assert loaded, "panoramasdk loaded nothing from the project?"
    assert loaded <= bound, sorted(loaded - bound)


@pytest.mark.parametrize("path", bound_modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_bound_modules_import_only_the_standard_library_and_numpy(path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            top = name.split(".")[0]
            assert (
                top in ALLOWED_IMPORTS or top in sys.stdlib_module_names or top == "__future__"
            ), f"{path.name} imports {name}, which an application's image may lack"


VERMIN = Path(sys.executable).parent / "vermin"


def too_new_for_python_3_8(*paths: Path) -> list[str]:
    """What vermin finds in ``paths`` that Python 3.8 lacks (annotations are not evaluated:
    the modules use ``from __future__ import annotations``)."""
    done = subprocess.run(
        [str(VERMIN), "--no-tips", "-t=3.8-", "--violations", "-vv", *map(str, paths)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return [line.strip() for line in done.stdout.splitlines() if " requires " in line]


def test_bound_modules_run_on_python_3_8():
    modules = bound_modules()
    assert not too_new_for_python_3_8(*modules)
    unions = {p.name: _runtime_unions(p.read_text()) for p in modules}
    assert not {name: found for name, found in unions.items() if found}


def _runtime_unions(source: str) -> list[str]:
    """``A | B`` outside annotations where either side is a type name (isinstance(x, A | B))."""
    tree = ast.parse(source)
    annotations: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            arguments = node.args
            every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
            every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
            for item in [a.annotation for a in every] + [node.returns]:
                if item is not None:
                    annotations.update(id(n) for n in ast.walk(item))
        elif isinstance(node, ast.AnnAssign):
            annotations.update(id(n) for n in ast.walk(node.annotation))
    types = {"int", "float", "str", "bytes", "bool", "list", "tuple", "dict", "set", "None"}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
            if id(node) in annotations:
                continue
            sides = [node.left, node.right]
            if any(isinstance(s, ast.Name) and s.id in types for s in sides) or any(
                isinstance(s, ast.Constant) and s.value is None for s in sides
            ):
                found.append(f"L{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_runtime_union_check_can_fail():
    assert _runtime_unions("isinstance(x, int | float)") == ["L1: int | float"]
    assert _runtime_unions("def f(x: int | None) -> str | None: pass") == []


def test_the_python_3_8_check_can_fail(tmp_path):
    newer = tmp_path / "newer.py"
    newer.write_text("from __future__ import annotations\nzip(a, b, strict=True)\n")
    assert too_new_for_python_3_8(newer) == ["'zip(strict)' requires !2, 3.10"]


# --- the records -----------------------------------------------------------------------------
def test_a_code_node_config_round_trips_and_keeps_its_types():
    config = CodeNodeConfig.model_validate(
        {
            "application_instance_id": "i", "node": "n", "runtime_dir": "/r",
            "inputs": {"p": {"kind": "parameter", "type": "int32", "value": 3},
                       "v": {"kind": "media", "streams": [
                           {"camera": "c", "stream_id": "s", "stream_uri": "u", "ring": "r",
                            "reader": 1}]}},
            "models": {"m": {"socket": "s", "inputs": [{"name": "x", "shape": [1, 3]}]}},
            "call_timeout_s": 5,
        }
    )  # fmt: skip
    assert isinstance(config.inputs["p"], ParameterInput)
    assert config.inputs["v"].streams[0].reader == 1
    assert config.models["m"].inputs == [TensorSpec(name="x", shape=[1, 3], type=None)]
    assert config.call_timeout_s == 5.0
    assert CodeNodeConfig.model_validate_json(config.model_dump_json(indent=1)) == config


@pytest.mark.parametrize(
    ("document", "error"),
    [
        ({"node": "n", "runtime_dir": "/r"}, "application_instance_id: field required"),
        ({"application_instance_id": "i", "node": "n", "runtime_dir": "/r", "x": 1},
         "CodeNodeConfig.x: unknown field"),
        ({"application_instance_id": "i", "node": 3, "runtime_dir": "/r"},
         "CodeNodeConfig.node: expected str, got int 3"),
        ({"application_instance_id": "i", "node": "n", "runtime_dir": "/r",
          "inputs": {"p": {"kind": "parameter", "type": "int64", "value": 1}}},
         "CodeNodeConfig.inputs.p.type: 'int64' is not one of"),
        ({"application_instance_id": "i", "node": "n", "runtime_dir": "/r",
          "inputs": {"p": {"kind": "radio"}}}, "inputs.p.kind: unknown kind 'radio'"),
    ],
)  # fmt: skip
def test_a_bad_config_names_the_field(document, error):
    with pytest.raises(ValueError, match=error.replace("[", r"\[")):
        CodeNodeConfig.model_validate(document)


def test_a_put_record_with_a_bad_overlay_is_refused():
    record = {"node": "n", "port": "p", "put_ns": 1,
              "media": [{"ring": "r", "slot": 0, "seq": 1, "labels": [["a", 0.1]]}]}  # fmt: skip
    with pytest.raises(ValueError, match=r"PutRecord.media\[0\].labels\[0\]: expected a list of 3"):
        PutRecord.model_validate(record)
    record["media"][0]["labels"] = [["a", 0.1, 0.2]]
    assert PutRecord.model_validate(record).media[0].labels == [("a", 0.1, 0.2)]

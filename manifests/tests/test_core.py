"""The error type, JSON pointers, and the library's independence from Django."""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import manifests
from manifests import ValidationError
from manifests.pointer import escape, join, resolve, split

PACKAGE_DIR = Path(manifests.__file__).resolve().parent
# regex: constraintRegex patterns come from users' documents and are matched with a time limit.
ALLOWED_IMPORTS = set(sys.stdlib_module_names) | {"pydantic", "regex", "manifests"}


def test_validation_error_is_a_small_frozen_dataclass():
    error = ValidationError("/nodeGraph/edges/2/producer", 'unknown node "cam"', "nodes: a, b")
    assert error.to_dict() == {
        "path": "/nodeGraph/edges/2/producer",
        "message": 'unknown node "cam"',
        "hint": "nodes: a, b",
    }
    with pytest.raises(dataclasses.FrozenInstanceError):
        field = "path"  # frozen, as the type checker knows: set by name
        setattr(error, field, "")
    assert str(error) == '/nodeGraph/edges/2/producer: unknown node "cam" (nodes: a, b)'
    assert str(ValidationError("", "payload too big")) == "(document): payload too big"
    assert error == ValidationError(*error.to_dict().values())


def test_pointer_escaping_round_trips():
    assert escape("a/b~c") == "a~1b~0c"
    assert join("/nodeGraph", "edges", 2, "producer") == "/nodeGraph/edges/2/producer"
    assert join("", "a/b", "~1") == "/a~1b/~01"
    assert split("/a~1b/~01") == ["a/b", "~1"]
    assert split("") == []
    with pytest.raises(ValueError, match="must be empty or start with '/'"):
        split("nodeGraph")


def test_resolve_follows_pointers_from_errors():
    doc = {"nodeGraph": {"edges": [{"producer": "a.b"}], "a/b": 1}}
    assert resolve(doc, "") is doc
    assert resolve(doc, "/nodeGraph/edges/0/producer") == "a.b"
    assert resolve(doc, "/nodeGraph/a~1b") == 1
    assert resolve(doc, "/nodeGraph/edges/0/consumer", None) is None
    assert resolve(doc, "/nodeGraph/edges/01", "missing") == "missing"
    with pytest.raises(KeyError):
        resolve(doc, "/nodeGraph/edges/1")


def test_validators_never_raise_on_garbage():
    garbage: list[Any]
    garbage = [None, 1, "x", [], {}, {"nodeGraph": []}, {"nodeGraph": {"nodes": [1, None, []]}},
               {"nodeGraph": {"edges": [{"producer": 1}], "packages": "p", "nodes": {}}},
               {"nodeGraphOverrides": {"nodeOverrides": [{"replace": 1, "with": [1, {}]}]}},
               {"nodePackage": {"interfaces": [{"inputs": [{"type": None}], "outputs": 1}]}},
               {"runtimeDescriptor": {"entry": [], "events": [1]}}]  # fmt: skip
    for doc in garbage:
        for validate in (
            manifests.validate_document,
            manifests.validate_graph,
            manifests.validate_override,
            manifests.validate_package,
            manifests.validate_descriptor,
        ):
            errors = validate(doc)
            assert isinstance(errors, list)
            assert all(isinstance(error, ValidationError) for error in errors)
    assert (
        manifests.validate_override(
            {"nodeGraphOverrides": {"envelopeVersion": "2021-01-01"}},
            graph={"nodeGraph": {"nodes": "x", "packages": [1]}},
            packages={"1::x": "not json", "2::y": [1]},
        )
        == []
    )


def test_library_modules_import_only_the_standard_library():
    offenders = []
    for path in PACKAGE_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            offenders += [
                f"{path.name}: {n}" for n in names if n.split(".")[0] not in ALLOWED_IMPORTS
            ]
    assert offenders == []


def test_importing_the_library_does_not_import_django():
    code = "import sys, manifests; assert 'django' not in sys.modules, 'django was imported'"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=PACKAGE_DIR.parent, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_modules_stay_small():
    sizes = {path.name: len(path.read_text().splitlines()) for path in PACKAGE_DIR.glob("*.py")}
    assert max(sizes.values()) < 400, sizes


def test_absurd_nesting_is_an_error_not_a_crash():
    from manifests import validate_document

    deep = "[" * 5000 + "]" * 5000
    doc: Any
    for doc in (
        deep,
        deep.encode(),
        {"nodeGraph": {"nodes": [[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}},
    ):
        errors = validate_document(doc)
        assert errors, doc
    errors = validate_document(deep)
    assert errors[0].message == "nested more than 64 levels deep"

"""Semantic checks on ``packages[]`` and ``nodes[]`` shared by graphs and overrides.

Everything here runs after the structural pass and only looks at well-formed parts, so one
mistake is reported once (by the schema) rather than again by every rule that depends on it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import regex as timed_regex

from .catalog import CAMERA_CATEGORY, Catalog, Interface
from .common import (
    INTERFACE_REF_PATTERN,
    NODE_NAME,
    PACKAGE_INCLUDE,
    PARAMETER_TYPES,
    PARAMETER_VALUES,
)
from .errors import Errors, ValidationError
from .pointer import join
from .schema import article, is_number, show


def names_hint(prefix: str, names: Iterable[str], limit: int = 12) -> str:
    """``"<prefix>: a, b, c"`` (cut after ``limit`` names), or ``"<prefix>: none"``."""
    names = list(names)
    shown = ", ".join(names[:limit]) + (", …" if len(names) > limit else "")
    return f"{prefix}: {shown or 'none'}"


@dataclass
class NodeInfo:
    """A well-named node of a graph or override, with its interface once resolved."""

    name: str
    path: str
    raw: dict[str, Any]
    param_type: str | None = None
    package: str | None = None
    interface_name: str | None = None
    iface: Interface | None = None

    @property
    def is_param(self) -> bool:
        return self.param_type is not None

    @property
    def overridable(self) -> bool:
        return self.raw.get("overridable") is True

    @property
    def mandatory(self) -> bool:
        return self.raw.get("overrideMandatory") is True

    @property
    def is_camera(self) -> bool:
        """A camera placeholder or concrete camera: replacing it needs at least one camera."""
        if self.iface is not None:
            return self.iface.category == CAMERA_CATEGORY
        return False

    def kind_text(self) -> str:
        """How messages name this node's kind: "a float32 parameter" or "an interface node"."""
        return f"{article(self.param_type)} parameter" if self.param_type else "an interface node"


class Index(dict[str, Any]):
    """Items by name; ``complete`` is False when some item had no well-formed name.

    Then a name that is not found may be that item's intended name, so "unknown ..." errors
    are not reported: the malformed name itself already is.
    """

    complete: bool = True

    @classmethod
    def merge(cls, *indexes: Index) -> Index:
        """One index over several (earlier ones win on equal names)."""
        merged = cls()
        for index in reversed(indexes):
            merged.update(index)
        merged.complete = all(index.complete for index in indexes)
        return merged


def collect_nodes(items: Any, base: str, errors: Errors | None = None) -> Index:
    """Index nodes by name (first wins); report duplicate names when ``errors`` is given."""
    nodes = Index()
    for index, item in enumerate(items if isinstance(items, list) else []):
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or not NODE_NAME.accepts(name):
            nodes.complete = False
            continue
        path = join(base, index)
        if name in nodes:
            if errors is not None:
                hint = f"node names must be unique; first defined at {nodes[name].path}"
                message = f'duplicate node name "{name}"'
                errors.append(ValidationError(join(path, "name"), message, hint))
            continue
        info = NodeInfo(name=name, path=path, raw=item)
        interface = item.get("interface")
        if interface in PARAMETER_TYPES:
            info.param_type = interface
        elif isinstance(interface, str) and INTERFACE_REF_PATTERN.matches(interface):
            info.package, _, info.interface_name = interface.rpartition(".")
        nodes[name] = info
    return nodes


def collect_includes(items: Any, base: str, catalog: Catalog, errors: Errors) -> Index:
    """Index ``packages[]`` by name; report duplicates and disagreement with package.json.

    Spec §5.1: a package.json ``name``/``version``, when present, must equal the include's.
    Stock packages are exempt from the version check (only 1.0 is documented).
    """
    included = Index()
    first_path: dict[str, str] = {}
    for index, item in enumerate(items if isinstance(items, list) else []):
        ref = item.get("name") if isinstance(item, dict) else None
        if not isinstance(ref, str) or not PACKAGE_INCLUDE.fields["name"].accepts(ref):
            included.complete = False
            continue
        path = join(base, index)
        if ref in included:
            hint = f"list each package once; first listed at {first_path[ref]}"
            errors.append(
                ValidationError(join(path, "name"), f'package "{ref}" is listed twice', hint)
            )
            continue
        included[ref], first_path[ref] = item, path
        known = catalog.get(ref)
        if known is None or known.stock:
            continue
        short = ref.partition("::")[2]
        if isinstance(known.name, str) and known.name != short:
            message = f'package.json of "{ref}" is named "{known.name}"'
            hint = f'nodePackage.name must equal the part after "::" ("{short}")'
            errors.append(ValidationError(join(path, "name"), message, hint))
        version = item.get("version")
        if isinstance(known.version, str) and isinstance(version, str) and known.version != version:
            message = (
                f'package.json of "{ref}" has version "{known.version}" '
                f'but version "{version}" is included'
            )
            hint = "include the version that the package.json declares"
            errors.append(ValidationError(join(path, "version"), message, hint))
    return included


def resolve_interfaces(
    nodes: Mapping[str, NodeInfo],
    included: Index,
    catalog: Catalog,
    errors: Errors,
    packages_path: str,
) -> None:
    """Attach each node's interface; report packages not included and unknown interfaces."""
    for node in nodes.values():
        if node.package is None:
            continue
        path = join(node.path, "interface")
        if node.package not in included:
            if not included.complete:
                continue
            message = f'package "{node.package}" is not listed in packages'
            hint = (
                f'list the package in {packages_path}, e.g. {{"name": "{node.package}", '
                '"version": "1.0"}'
            )
            errors.append(ValidationError(path, message, hint))
            continue
        known = catalog.get(node.package)
        if known is None:
            continue
        node.iface = known.interfaces.get(node.interface_name or "")
        if node.iface is None:
            message = f'package "{node.package}" has no interface "{node.interface_name}"'
            hint = names_hint(f"interfaces of {node.package}", known.interfaces)
            errors.append(ValidationError(path, message, hint))


def value_text(value: Any) -> str:
    """The text a constraintRegex is matched against: strings as-is, others as JSON."""
    return value if isinstance(value, str) else json.dumps(value)


# A pattern that backtracks exponentially (``(a|a)+$``) takes seconds, then hours, as the value
# grows by a few characters; whoever wrote the document chose both. A match stops after
# REGEX_TIME_LIMIT_S, and all of one document's together after REGEX_BUDGET_S (a graph may hold
# many such parameters).
REGEX_TIME_LIMIT_S = 0.5
REGEX_BUDGET_S = 2.0
_regex_deadline: ContextVar[float | None] = ContextVar("manifests_regex_deadline", default=None)


@contextmanager
def regex_budget(seconds: float = REGEX_BUDGET_S) -> Iterator[None]:
    """The constraintRegex matches made inside share ``seconds`` (inside another budget: that
    one)."""
    if _regex_deadline.get() is not None:
        yield
        return
    token = _regex_deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _regex_deadline.reset(token)


class RegexTooSlow(Exception):
    """A constraintRegex took longer than REGEX_TIME_LIMIT_S on a value."""


def regex_mismatch(value: Any, regex: Any) -> bool:
    """True when ``value`` does not fully match a valid ``regex`` (invalid ones are skipped).
    RegexTooSlow when the match runs past REGEX_TIME_LIMIT_S."""
    if not isinstance(regex, str) or not regex:
        return False
    limit = REGEX_TIME_LIMIT_S
    deadline = _regex_deadline.get()
    if deadline is not None:
        limit = min(limit, deadline - time.monotonic())
    if limit <= 0:
        raise RegexTooSlow(f"no time left to match {show(value)} against {show(regex)}")
    try:
        return timed_regex.fullmatch(regex, value_text(value), timeout=limit) is None
    except timed_regex.error:
        return False
    except TimeoutError:
        raise RegexTooSlow(
            f"matching {show(value)} against {show(regex)} took longer than "
            f"{REGEX_TIME_LIMIT_S:g} s"
        ) from None


TOO_SLOW_HINT = (
    "a constraintRegex without nested repetition (such as ^[a-z0-9_]+$ rather than ^(\\w+)+$), "
    "or a shorter value"
)


def check_value_against(
    node: NodeInfo, regex: Any, owner: str, errors: Errors, constraint_text: Any = None
) -> None:
    """Report a parameter node whose ``value`` does not match a constraintRegex of ``owner``."""
    if node.param_type is None or "value" not in node.raw:
        return
    value = node.raw["value"]
    if not PARAMETER_VALUES[node.param_type].accepts(value):
        return  # a value of the wrong type is reported by the structural pass
    try:
        if not regex_mismatch(value, regex):
            return
    except RegexTooSlow:
        message = (
            f"value {show(value)} could not be checked against constraintRegex {show(regex)} "
            f"of {owner} within {REGEX_TIME_LIMIT_S:g} s"
        )
        errors.append(ValidationError(join(node.path, "value"), message, TOO_SLOW_HINT))
        return
    message = f"value {show(value)} does not match constraintRegex {show(regex)} of {owner}"
    hint = constraint_text if isinstance(constraint_text, str) else f"a value matching {regex}"
    errors.append(ValidationError(join(node.path, "value"), message, hint))


def check_value_minimum(node: NodeInfo, minimum: float | None, owner: str, errors: Errors) -> None:
    """Report a parameter node whose number ``value`` is below the ``minimum`` of ``owner``."""
    if node.param_type not in ("int32", "float32") or minimum is None:
        return
    value = node.raw.get("value")
    if not is_number(value) or not PARAMETER_VALUES[node.param_type].accepts(value):
        return
    if value >= minimum:
        return
    message = f"value {show(value)} is below the minimum {show(minimum)} of {owner}"
    errors.append(
        ValidationError(join(node.path, "value"), message, f"a value of at least {show(minimum)}")
    )


def check_parameter_nodes(nodes: Mapping[str, NodeInfo], errors: Errors) -> None:
    """Node-local semantics: decorator constraintRegex on values, overrideMandatory sanity."""
    for node in nodes.values():
        decorator = node.raw.get("decorator")
        if node.is_param and isinstance(decorator, dict):
            check_value_against(
                node,
                decorator.get("constraintRegex"),
                "its decorator",
                errors,
                decorator.get("constraintText"),
            )
        if node.mandatory and node.raw.get("overridable", False) is False:
            message = '"overrideMandatory" is true but "overridable" is not'
            hint = 'set "overridable": true, or remove "overrideMandatory"'
            errors.append(ValidationError(join(node.path, "overrideMandatory"), message, hint))

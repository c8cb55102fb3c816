"""A tiny declarative schema language with our own error wording.

Why not JSON Schema or pydantic? The reference schema files are test oracles only, the rules
must live in Python, and the error messages are part of this library's contract (tests compare
them exactly; the console shows them to users). Pydantic's wording changes between releases and
its union errors for the ``oneOf`` node kinds are noisy, so the structural rules are declared
here with a handful of spec classes that report *every* problem with an RFC 6901 path, a message
and a hint derived from the spec itself.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, TypeGuard

from .errors import Errors, ValidationError
from .pointer import join


def json_type(value: Any) -> str:
    """The JSON name of a Python value's type, as users see it in their document."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def show(value: Any, limit: int = 60) -> str:
    """A short JSON rendering of a value for messages (long values are cut with an ellipsis)."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plural(count: int, word: str) -> str:
    """``"1 character"``, ``"2 characters"``."""
    return f"{count} {word}" + ("" if count == 1 else "s")


def article(word: str) -> str:
    """``"an int32"``, ``"a float32"``: titles are built from type names."""
    return ("an " if word[:1].lower() in "aeiou" else "a ") + word


def is_int(value: Any) -> TypeGuard[int]:
    """JSON integer: a Python int that is not a bool (``True`` is an int in Python)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> TypeGuard[int | float]:
    """JSON number: int or float, never bool."""
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass(frozen=True)
class Pattern:
    """A regular expression plus the plain-words description used in hints.

    ``regex`` is written like the schema files (``^…$``) but is applied with ``fullmatch`` so
    that, as in JSON Schema, ``$`` does not accept a trailing newline.
    """

    regex: str
    text: str
    form: bool = False  # True: ``text`` describes a format ("of the form …"), not characters

    @cached_property
    def compiled(self) -> re.Pattern[str]:
        return re.compile(self.regex.removeprefix("^").removesuffix("$"))

    def matches(self, value: str) -> bool:
        return self.compiled.fullmatch(value) is not None


class Spec(ABC):
    """One node of a schema: checks a value and describes what it allows (for hints)."""

    @abstractmethod
    def check(self, value: Any, path: str, errors: Errors) -> None:
        """Append one ValidationError per problem found at ``path`` (and below) to ``errors``."""

    @abstractmethod
    def describe(self) -> str:
        """What is allowed here, in words; used as the hint of errors about this value."""

    def noun(self) -> str:
        """A short name for one such value, used when describing arrays of them."""
        return self.describe()

    def accepts(self, value: Any) -> bool:
        """True when ``value`` has no problem; semantic checks only trust accepted values."""
        found: Errors = []
        self.check(value, "", found)
        return not found

    def _type_error(self, value: Any, path: str, errors: Errors, expected: str) -> None:
        errors.append(
            ValidationError(path, f"expected {expected}, got {json_type(value)}", self.describe())
        )


@dataclass(frozen=True, kw_only=True)
class Str(Spec):
    """A JSON string with optional enum, length limits, pattern, or "must be a regex"."""

    enum: tuple[str, ...] | None = None
    min_len: int = 0
    max_len: int | None = None
    pattern: Pattern | None = None
    regex: bool = False
    hint: str | None = None

    def describe(self) -> str:
        if self.hint:
            return self.hint
        if self.enum:
            return "one of: " + ", ".join(self.enum)
        parts = ["a string"]
        if self.min_len and self.max_len:
            parts.append(f"of {self.min_len} to {self.max_len} characters")
        elif self.max_len:
            parts.append(f"of at most {self.max_len} characters")
        elif self.min_len:
            parts.append("that is not empty")
        if self.pattern:
            how = "of the form" if self.pattern.form else "made of"
            parts.append(f"{how} {self.pattern.text} (pattern {self.pattern.regex})")
        if self.regex:
            parts.append("holding a valid regular expression")
        return " ".join(parts)

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, str):
            self._type_error(value, path, errors, "a string")
        elif self.enum is not None and value not in self.enum:
            errors.append(
                ValidationError(path, f"{show(value)} is not an allowed value", self.describe())
            )
        elif len(value) < self.min_len:
            message = (
                "must not be empty"
                if not value
                else f"too short: {plural(len(value), 'character')}, the minimum is {self.min_len}"
            )
            errors.append(ValidationError(path, message, self.describe()))
        elif self.max_len is not None and len(value) > self.max_len:
            message = f"too long: {plural(len(value), 'character')}, the maximum is {self.max_len}"
            errors.append(ValidationError(path, message, self.describe()))
        elif self.pattern is not None and not self.pattern.matches(value):
            message = f"{show(value)} does not match the allowed pattern"
            errors.append(ValidationError(path, message, self.describe()))
        elif self.regex:
            try:
                re.compile(value)
            except re.error as exc:
                message = f"not a valid regular expression: {exc}"
                errors.append(ValidationError(path, message, self.describe()))


def _range_text(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f"{kind} of at least {minimum:g}"
    if maximum is not None:
        return f"{kind} of at most {maximum:g}"
    return kind


@dataclass(frozen=True, kw_only=True)
class Int(Spec):
    """A JSON integer (bools and floats such as ``8.0`` are rejected) with an optional range."""

    minimum: int | None = None
    maximum: int | None = None
    hint: str | None = None

    def describe(self) -> str:
        return self.hint or _range_text("an integer", self.minimum, self.maximum)

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not is_int(value):
            self._type_error(value, path, errors, "an integer")
        elif (self.minimum is not None and value < self.minimum) or (
            self.maximum is not None and value > self.maximum
        ):
            errors.append(ValidationError(path, f"{value} is out of range", self.describe()))


@dataclass(frozen=True, kw_only=True)
class Num(Spec):
    """A finite JSON number (integer or fraction) with an optional magnitude limit."""

    max_abs: float | None = None
    hint: str | None = None

    def describe(self) -> str:
        if self.hint:
            return self.hint
        if self.max_abs is not None:
            return _range_text("a number", -self.max_abs, self.max_abs)
        return "a number"

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not is_number(value):
            self._type_error(value, path, errors, "a number")
        elif not math.isfinite(value):
            errors.append(ValidationError(path, "must be a finite number", self.describe()))
        elif self.max_abs is not None and abs(value) > self.max_abs:
            errors.append(ValidationError(path, f"{value!r} is out of range", self.describe()))


@dataclass(frozen=True, kw_only=True)
class Bool(Spec):
    """A JSON boolean (``true``/``false``; not 0/1, not ``"true"``)."""

    hint: str | None = None

    def describe(self) -> str:
        return self.hint or "true or false"

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, bool):
            self._type_error(value, path, errors, "a boolean")


@dataclass(frozen=True, kw_only=True)
class Arr(Spec):
    """A JSON array whose every item is checked against ``items``."""

    items: Spec
    min_items: int = 0
    max_items: int | None = None
    hint: str | None = None

    def describe(self) -> str:
        if self.hint:
            return self.hint
        text = "a non-empty array" if self.min_items else "an array"
        if self.max_items is not None:
            text += f" of at most {self.max_items} items"
        return f"{text}, each item {self.items.noun()}"

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, list):
            self._type_error(value, path, errors, "an array")
            return
        if len(value) < self.min_items:
            message = f"must contain at least {plural(self.min_items, 'item')}"
            errors.append(ValidationError(path, message, self.describe()))
        if self.max_items is not None and len(value) > self.max_items:
            message = f"too many items: {len(value)}, the maximum is {self.max_items}"
            errors.append(ValidationError(path, message, self.describe()))
        for index, item in enumerate(value):
            self.items.check(item, join(path, index), errors)


@dataclass(frozen=True, kw_only=True)
class Obj(Spec):
    """A JSON object with known fields; unknown fields are errors (additionalProperties: false).

    ``any_of_required`` lists groups of which at least one member must be present;
    ``depends`` maps a field to another field that must then be present too.
    """

    title: str
    fields: Mapping[str, Spec]
    required: tuple[str, ...] = ()
    any_of_required: tuple[tuple[str, ...], ...] = ()
    depends: Mapping[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        return f"{self.title}: an object with fields " + ", ".join(self.fields)

    def noun(self) -> str:
        return self.title

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, dict):
            self._type_error(value, path, errors, f"{self.title} (an object)")
            return
        for name in self.required:
            if name not in value:
                errors.append(
                    ValidationError(
                        join(path, name), f'"{name}" is required', self.fields[name].describe()
                    )
                )
        for group in self.any_of_required:
            if not any(name in value for name in group):
                wanted = " or ".join(f'"{name}"' for name in group)
                hint = f"{self.title} needs at least one of these fields"
                errors.append(ValidationError(path, f"one of {wanted} is required", hint))
        for name, other in self.depends.items():
            if name in value and other not in value:
                message = f'"{other}" is required when "{name}" is given'
                errors.append(
                    ValidationError(join(path, other), message, self.fields[other].describe())
                )
        for name, item in value.items():
            spec = self.fields.get(name)
            if spec is None:
                errors.append(
                    ValidationError(
                        join(path, name), f'unknown field "{name}"', self._allowed(name)
                    )
                )
            else:
                spec.check(item, join(path, name), errors)

    def _allowed(self, name: str) -> str:
        hint = f"allowed fields in {self.title}: " + ", ".join(self.fields)
        close = difflib.get_close_matches(name, list(self.fields), n=1, cutoff=0.6)
        return hint + (f'; did you mean "{close[0]}"?' if close else "")


@dataclass(frozen=True, kw_only=True)
class Tagged(Spec):
    """A JSON ``oneOf`` decided by one field (``type`` of a port, ``interface`` of a node).

    Dispatching on the tag gives one precise error instead of "matches none of 5 schemas".
    Values whose tag is not a known case use ``default`` when there is one.
    """

    title: str
    key: str
    cases: Mapping[str, Obj]
    default: Obj | None = None

    def describe(self) -> str:
        return f'{self.title}: "{self.key}" is one of ' + ", ".join(self.cases)

    def noun(self) -> str:
        return self.title

    def check(self, value: Any, path: str, errors: Errors) -> None:
        if not isinstance(value, dict):
            self._type_error(value, path, errors, f"{self.title} (an object)")
            return
        tag = value.get(self.key)
        if isinstance(tag, str) and tag in self.cases:
            self.cases[tag].check(value, path, errors)
        elif self.default is not None:
            self.default.check(value, path, errors)
        elif self.key not in value:
            message = f'"{self.key}" is required'
            errors.append(ValidationError(join(path, self.key), message, self._choices()))
        elif not isinstance(tag, str):
            message = f"expected a string, got {json_type(tag)}"
            errors.append(ValidationError(join(path, self.key), message, self._choices()))
        else:
            message = f"{show(tag)} is not an allowed value"
            errors.append(ValidationError(join(path, self.key), message, self._choices()))

    def _choices(self) -> str:
        return "one of: " + ", ".join(self.cases)

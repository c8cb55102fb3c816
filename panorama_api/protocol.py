"""rest-json as botocore's Panorama model describes it: routing, parsing and checking a request,
and writing a response.

Everything comes from the model (``botocore`` ≤ 1.43.11 ships it): each operation's method and
``requestUri``, where each input member travels (URI label, query string with its exact,
mixed-case name, header, JSON body) and its constraints (required, length, range, pattern,
enum), and the output members. A request that breaks a constraint gets a
``ValidationException`` with reason ``FIELD_VALIDATION_FAILED`` naming every field at fault.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import logging
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, unquote

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape
from django.conf import settings
from django.http import HttpRequest, HttpResponse

from panorama_api.errors import ApiError, InternalError, ValidationError

logger = logging.getLogger(__name__)


@functools.cache
def service_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("panorama")


@dataclass(frozen=True)
class Route:
    operation: OperationModel
    method: str
    pattern: re.Pattern[str]
    labels: tuple[str, ...]
    literal: int  # characters of literal path, to try the most specific routes first


def _label_regex(shape: Shape) -> str:
    pattern = shape.metadata.get("pattern", "")
    # Labels whose values may hold a "/" (a PackageId alias, an ARN) take the rest.
    slash = not pattern or (_compiled(pattern) is not None and _matches(pattern, "a/b"))
    return "(.+)" if slash else "([^/]+)"


@functools.cache
def routes() -> tuple[Route, ...]:
    found = []
    model = service_model()
    for name in model.operation_names:
        operation = model.operation_model(name)
        uri = operation.http["requestUri"].split("?", 1)[0]
        members = operation.input_shape.members if operation.input_shape else {}
        labels: list[str] = []
        regex = ""
        position = 0
        for match in re.finditer(r"\{([A-Za-z0-9_]+)\+?\}", uri):
            regex += re.escape(uri[position : match.start()])
            member = next(
                m for m, s in members.items() if s.serialization.get("name", m) == match[1]
            )
            regex += _label_regex(members[member])
            labels.append(member)
            position = match.end()
        regex += re.escape(uri[position:])
        literal = len(re.sub(r"\{[^}]*\}", "", uri))
        pattern = re.compile(f"^{regex}/?$")
        found.append(Route(operation, operation.http["method"], pattern, tuple(labels), literal))
    return tuple(sorted(found, key=lambda r: -r.literal))


def match(method: str, path: str) -> tuple[Route, dict[str, str]]:
    """The route for a request (its path below the API's prefix), and its labels' values."""
    allowed = False
    for route in routes():
        found = route.pattern.match(path)
        if found is None:
            continue
        if route.method != method:
            allowed = True
            continue
        return route, {m: unquote(v) for m, v in zip(route.labels, found.groups(), strict=True)}
    what = f"{method} {path}"
    reason = "is not allowed here" if allowed else "is not an operation of the Panorama API"
    raise ValidationError(f"{what} {reason}.", reason="UNKNOWN_OPERATION")


# --- parsing --------------------------------------------------------------------------------------
def parse(route: Route, labels: dict[str, str], request: HttpRequest) -> dict[str, Any]:
    """The operation's input members, typed and checked against the model."""
    shape = route.operation.input_shape
    if shape is None:
        return {}
    values: dict[str, Any] = dict(labels)
    query = parse_qs(request.META.get("QUERY_STRING", ""), keep_blank_values=True)
    body_members = []
    problems: list[tuple[str, str]] = []
    for name, member in shape.members.items():
        location = member.serialization.get("location")
        wire = member.serialization.get("name", name)
        if location == "querystring":
            if wire in query:
                raw = query[wire]
                if member.type_name == "list":
                    values[name] = [_scalar(member.member, v, name, problems) for v in raw]
                else:
                    values[name] = _scalar(member, raw[-1], name, problems)
        elif location == "header":
            header = request.headers.get(wire)
            if header is not None:
                values[name] = _scalar(member, header, name, problems)
        elif location != "uri":
            body_members.append(name)
    if body_members and request.body:
        try:
            document = json.loads(request.body)
        except ValueError:
            raise ValidationError("The request body is not JSON.", reason="CANNOT_PARSE") from None
        except RecursionError:
            raise ValidationError(
                "The request body nests too deeply.", reason="CANNOT_PARSE"
            ) from None
        if not isinstance(document, dict):
            raise ValidationError("The request body is not a JSON object.", reason="CANNOT_PARSE")
        for name in body_members:
            wire = shape.members[name].serialization.get("name", name)
            if wire in document and document[wire] is not None:
                values[name] = _from_json(shape.members[name], document[wire], name, problems)
    _check(shape, values, "", problems)
    if problems:
        first = problems[0]
        message = f"{first[0]}: {first[1]}" if len(problems) == 1 else (
            f"{len(problems)} fields are not valid: "
            + "; ".join(f"{n}: {m}" for n, m in problems)
        )  # fmt: skip
        raise ValidationError(message, fields=problems)
    return values


def _scalar(shape: Shape, raw: str, where: str, problems: list[tuple[str, str]]) -> Any:
    if shape.type_name in ("integer", "long"):
        try:
            return int(raw)
        except ValueError:
            problems.append((where, f"must be a whole number, not {raw!r}"))
            return None
    if shape.type_name == "boolean":
        if raw.lower() in ("true", "false"):
            return raw.lower() == "true"
        problems.append((where, f"must be true or false, not {raw!r}"))
        return None
    return raw


def _from_json(shape: Shape, value: Any, where: str, problems: list[tuple[str, str]]) -> Any:
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            problems.append((where, "must be an object"))
            return None
        result = {}
        for name, member in shape.members.items():
            wire = member.serialization.get("name", name)
            if wire in value and value[wire] is not None:
                result[name] = _from_json(member, value[wire], f"{where}.{name}", problems)
        return result
    if kind == "list":
        if not isinstance(value, list):
            problems.append((where, "must be a list"))
            return None
        return [_from_json(shape.member, v, f"{where}[{i}]", problems) for i, v in enumerate(value)]
    if kind == "map":
        if not isinstance(value, dict):
            problems.append((where, "must be an object"))
            return None
        return {
            str(k): _from_json(shape.value, v, f"{where}.{k}", problems) for k, v in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            problems.append((where, "must be a string"))
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append((where, "must be a whole number"))
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            problems.append((where, "must be true or false"))
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            problems.append((where, "must be a number"))
        return value
    if kind == "blob":
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            problems.append((where, "must be base64"))
            return None
    if kind == "timestamp":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        problems.append((where, "must be a time in seconds since the epoch"))
        return None
    return value


def _check(shape: Shape, value: Any, where: str, problems: list[tuple[str, str]]) -> None:
    """The model's constraints (required, length, range, pattern, enum), recursively."""
    if value is None:
        return
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                problems.append((f"{where}.{name}" if where else name, "is required"))
        for name, member in shape.members.items():
            if name in value:
                _check(member, value[name], f"{where}.{name}" if where else name, problems)
        return
    if kind in ("string", "list", "map", "blob") and hasattr(value, "__len__"):
        size = len(value)
        if "min" in meta and size < meta["min"]:
            unit = "characters" if kind == "string" else "items" if kind != "blob" else "bytes"
            problems.append((where, f"must have at least {meta['min']} {unit}"))
        if "max" in meta and size > meta["max"]:
            unit = "characters" if kind == "string" else "items" if kind != "blob" else "bytes"
            problems.append((where, f"must have at most {meta['max']} {unit}"))
    if kind in ("integer", "long") and isinstance(value, int):
        if "min" in meta and value < meta["min"]:
            problems.append((where, f"must be at least {meta['min']}"))
        if "max" in meta and value > meta["max"]:
            problems.append((where, f"must be at most {meta['max']}"))
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            problems.append((where, f"must be one of {', '.join(shape.enum)}"))
        pattern = meta.get("pattern")
        if pattern and not _matches(pattern, value):
            problems.append((where, f"must match {pattern}"))
    if kind == "list" and isinstance(value, list):
        for index, item in enumerate(value):
            _check(shape.member, item, f"{where}[{index}]", problems)
    if kind == "map" and isinstance(value, dict):
        for key, item in value.items():
            _check(shape.key, key, f"{where} key {key!r}", problems)
            _check(shape.value, item, f"{where}.{key}", problems)


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern)
    except re.error:
        return None  # a Java-only construct: the model's other checks still apply


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    return compiled is None or compiled.search(value) is not None


# --- responses ----------------------------------------------------------------------------------
def respond(operation: OperationModel, result: dict[str, Any]) -> HttpResponse:
    shape = operation.output_shape
    body: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if shape is not None:
        strict = getattr(settings, "PANORAMA_API_STRICT", False)
        unknown = set(result) - set(shape.members)
        if unknown and strict:
            raise InternalError(f"{operation.name} returned members it does not have: {unknown}")
        for name in shape.required_members:
            if result.get(name) is None and strict:
                raise InternalError(f"{operation.name} left out its required member {name}")
        for name, member in shape.members.items():
            if result.get(name) is None:
                continue
            location = member.serialization.get("location")
            wire = member.serialization.get("name", name)
            if location == "header":
                headers[wire] = str(_to_json(member, result[name]))
            else:
                body[wire] = _to_json(member, result[name])
    response = HttpResponse(json.dumps(body), content_type="application/json", status=200)
    for key, value in headers.items():
        response[key] = value
    return response


def _to_json(shape: Shape, value: Any) -> Any:
    kind = shape.type_name
    if kind == "structure":
        return {
            member.serialization.get("name", name): _to_json(member, value[name])
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        return [_to_json(shape.member, item) for item in value]
    if kind == "map":
        return {str(k): _to_json(shape.value, v) for k, v in value.items()}
    if kind == "timestamp":
        if isinstance(value, datetime):
            return round(value.timestamp(), 3)
        return value
    if kind == "blob":
        raw = value.encode() if isinstance(value, str) else bytes(value)
        return base64.b64encode(raw).decode("ascii")
    if kind in ("float", "double") and isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def error_response(error: ApiError) -> HttpResponse:
    response = HttpResponse(
        json.dumps(error.body()), content_type="application/json", status=error.status
    )
    response["X-Amzn-ErrorType"] = error.code
    for key, value in error.headers().items():
        response[key] = value
    return response

"""The REST API's body parsers: DRF's, with two kinds of body refused as a 400 instead of a 500.

- A JSON body nested too deeply for Python's parser (DRF lets the RecursionError through).
- Text with a NUL character (U+0000) anywhere: PostgreSQL cannot store or even compare it, so a
  NUL in a field that is looked up (a device ID, a user name) or stored without a CharField's
  own check (a dict key, a JSON value) failed in the database. One check here covers every
  field of every endpoint; the answer names the field, as DRF's field errors do.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import QueryDict
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import DataAndFiles, FormParser, JSONParser, MultiPartParser

NUL_MESSAGE = "Text must not contain NUL (0x00) characters."


def nul_field(data: Any, path: str = "") -> str | None:
    """The path (``name``, ``tags.key``, ``nodes.0.name``) of the first text in ``data`` that
    holds a NUL character, a key's or a value's; None if there is none."""
    if isinstance(data, str):
        return path if "\x00" in data else None
    if isinstance(data, QueryDict):
        # A form field's values by its name alone, as the serializer's errors name it.
        for key, values in data.lists():
            if "\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values):
                return f"{path}.{key}" if path else key
        return None
    if isinstance(data, Mapping):
        for key, value in data.items():
            here = f"{path}.{key}" if path else str(key)
            if isinstance(key, str) and "\x00" in key:
                return here
            found = nul_field(value, here)
            if found is not None:
                return found
    elif isinstance(data, (list, tuple)):
        for index, value in enumerate(data):
            found = nul_field(value, f"{path}.{index}" if path else str(index))
            if found is not None:
                return found
    return None


def refuse_nul(data: Any) -> Any:
    """``data``, or a 400 naming the field whose text holds a NUL character."""
    field = nul_field(data)
    if field is not None:
        raise ValidationError({field.replace("\x00", "\\x00") or "non_field_errors": [NUL_MESSAGE]})
    return data


class JSONBodyParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError("JSON parse error - the body nests too deeply.") from None
        return refuse_nul(data)


class FormBodyParser(FormParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        return refuse_nul(super().parse(stream, media_type, parser_context))


class MultiPartBodyParser(MultiPartParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        parsed = super().parse(stream, media_type, parser_context)
        refuse_nul(parsed.data if isinstance(parsed, DataAndFiles) else parsed)
        return parsed

"""Resource tags (Panorama's key/value labels): their rules, the filter syntax, and the form
field with its widget. Devices carry them today; the Panorama API's TagResource shares the
rules (panorama_api/operations/tags.py)."""

from __future__ import annotations

import re
from itertools import zip_longest
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.template.loader import render_to_string
from django.utils.safestring import mark_safe

MAX_TAGS = 50
TAG_KEY = re.compile(r"^[a-zA-Z0-9 _.:/=+@-]{1,128}$")
TAG_VALUE = re.compile(r"^[a-zA-Z0-9 _.:/=+@-]{0,256}$")
TAG_CHARACTERS = "letters, digits, spaces and _ . : / = + - @"


def validate_tags(pairs: list[tuple[str, str]] | dict[str, str]) -> dict[str, str]:
    """Tags as a dict; ValidationError lists every problem, naming the tag."""
    if isinstance(pairs, dict):
        pairs = list(pairs.items())
    errors: list[str] = []
    tags: dict[str, str] = {}
    if len(pairs) > MAX_TAGS:
        errors.append(f"A device can have up to {MAX_TAGS} tags; you gave {len(pairs)}.")
    for key, value in pairs:
        key = str(key).strip()
        value = "" if value is None else str(value).strip()
        if not key:
            errors.append(f"The tag with value {value!r} has no key; every tag needs a key.")
            continue
        if not TAG_KEY.match(key):
            errors.append(f"Tag key {key[:40]!r}: use 1 to 128 characters: {TAG_CHARACTERS}.")
            continue
        if not TAG_VALUE.match(value):
            errors.append(
                f"Tag {key!r}: the value can have up to 256 characters: {TAG_CHARACTERS}."
            )
            continue
        if key in tags:
            errors.append(f"Tag key {key!r} is used twice; each key can appear once.")
            continue
        tags[key] = value
    if errors:
        raise ValidationError(errors, code="invalid_tags")
    return tags


def parse_tag_filter(text: str) -> tuple[str, str | None]:
    """``site:lobby`` → ("site", "lobby"); ``site`` → ("site", None). ValueError if invalid.

    The key ends at the first colon, so filter values may hold colons (keys with a colon can be
    filtered by key only when written without a value).
    """
    text = text.strip()
    if TAG_KEY.match(text) and ":" not in text:
        return text, None
    key, _sep, value = text.partition(":")
    if not TAG_KEY.match(key) or not TAG_VALUE.match(value):
        raise ValueError(
            f"Filter tags as key or key:value; a key has 1 to 128 characters: {TAG_CHARACTERS}."
        )
    return key, value


class TagsWidget(forms.Widget):
    """Rows of key and value inputs (``<name>_key`` / ``<name>_value``); JS adds rows."""

    template_name = "devices/widgets/tags.html"
    blank_rows = 1

    def _render(self, template_name: str, context: dict, renderer=None) -> str:
        # The project's templates (templates/devices/widgets/), not the form renderer's, which
        # only looks into apps and Django's own widget templates.
        return mark_safe(render_to_string(template_name, context))  # noqa: S308

    def id_for_label(self, id_: str) -> str:
        return f"{id_}_key_0" if id_ else id_

    def value_from_datadict(self, data, files, name: str) -> list[tuple[str, str]]:
        getlist = getattr(data, "getlist", None)
        keys = getlist(f"{name}_key") if getlist else list(data.get(f"{name}_key", []))
        values = getlist(f"{name}_value") if getlist else list(data.get(f"{name}_value", []))
        return [(k or "", v or "") for k, v in zip_longest(keys, values, fillvalue="")]

    def value_omitted_from_data(self, data, files, name: str) -> bool:
        return f"{name}_key" not in data

    def format_value(self, value: Any) -> list[tuple[str, str]]:
        if isinstance(value, dict):
            return list(value.items())
        return list(value or [])

    def get_context(self, name: str, value: Any, attrs: dict | None) -> dict:
        context = super().get_context(name, value, attrs)
        rows = [(k, v) for k, v in self.format_value(value) if k or v]
        context["widget"]["rows"] = rows + [("", "")] * self.blank_rows
        context["widget"]["max_tags"] = MAX_TAGS
        context["widget"]["describedby"] = (attrs or {}).get("aria-describedby", "")
        return context


class TagsField(forms.Field):
    widget = TagsWidget
    default_error_messages = {"invalid": "Enter tags as key and value pairs."}

    def to_python(self, value: Any) -> list[tuple[str, str]]:
        if isinstance(value, dict):
            return list(value.items())
        # Rows left completely empty are the blank rows of the form, not tags.
        return [(k, v) for k, v in (value or []) if (k or "").strip() or (v or "").strip()]

    def clean(self, value: Any) -> dict[str, str]:
        pairs = self.to_python(value)
        if self.required and not pairs:
            raise ValidationError(self.error_messages["required"], code="required")
        return validate_tags(pairs)

    def has_changed(self, initial: Any, data: Any) -> bool:
        try:
            return validate_tags(self.to_python(initial)) != validate_tags(self.to_python(data))
        except ValidationError:
            return True


TAGS_HELP = (
    "A tag is a label that you assign to a device. Each tag consists of a key and an optional "
    "value. You can use tags to search and filter your devices. Up to 50 tags; keys have 1 to "
    f"128 and values up to 256 characters: {TAG_CHARACTERS}."
)

"""The runtime role form: environment variables, saved encrypted and never shown again."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from applications.models import RuntimeRole
from core.crypto import SecretUnreadable

# --- runtime roles ------------------------------------------------------------------------------

VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MAX_VARIABLES = 50
MAX_VALUE = 4096
BLANK_ROWS = 2


class RuntimeRoleForm(forms.ModelForm):
    """Name, description and environment variables; values are saved encrypted and never shown
    again: a saved variable's value field starts empty, and empty keeps the saved value."""

    class Meta:
        model = RuntimeRole
        fields = ["name", "description"]
        help_texts = {"name": "Letters a-z A-Z, digits 0-9, underscore (_) and hyphen (-)."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        try:
            self.saved = self.instance.environment() if self.instance.pk else {}
        except SecretUnreadable:
            self.saved = {}  # saving replaces what can no longer be read
        self.environment: dict[str, str] = {}
        self.row_errors: dict[int, list[str]] = {}

    def rows(self) -> list[dict[str, Any]]:
        """The variable rows to show (keys only; values never)."""
        if self.is_bound:
            rows = [
                {"index": i, "key": key, "saved": saved, "remove": remove}
                for i, key, _value, saved, remove in self._posted_rows()
            ]
        else:
            rows = [
                {"index": i, "key": key, "saved": True, "remove": False}
                for i, key in enumerate(sorted(self.saved))
            ]
        start = max((row["index"] for row in rows), default=-1) + 1
        rows += [
            {"index": start + n, "key": "", "saved": False, "remove": False}
            for n in range(BLANK_ROWS)
        ]
        for row in rows:
            row["errors"] = self.row_errors.get(row["index"], [])
        return rows

    def _posted_rows(self) -> list[tuple[int, str, str, bool, bool]]:
        found = []
        for index in range(MAX_VARIABLES + BLANK_ROWS + 20):
            prefix = f"env-{index}-"
            if f"{prefix}key" not in self.data and f"{prefix}value" not in self.data:
                continue
            key = self.data.get(f"{prefix}key", "").strip()
            saved = self.data.get(f"{prefix}saved") == "1" and key in self.saved
            remove = bool(self.data.get(f"{prefix}remove"))
            found.append((index, key, self.data.get(f"{prefix}value", ""), saved, remove))
        return found

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        environment: dict[str, str] = {}
        for index, key, value, saved, remove in self._posted_rows():
            errors = []
            if not key:
                if value:
                    errors.append("A value needs a variable name.")
            elif remove:
                continue
            elif not VARIABLE_NAME.match(key):
                errors.append(
                    f"{key[:40]}: start with a letter or _, then letters, digits and _ "
                    "(up to 128 characters)."
                )
            elif key in environment:
                errors.append(f"{key} is given twice.")
            elif len(value) > MAX_VALUE:
                errors.append(f"The value of {key} is longer than {MAX_VALUE} characters.")
            else:
                environment[key] = self.saved[key] if saved and not value else value
            if errors:
                self.row_errors[index] = errors
        if len(environment) > MAX_VARIABLES:
            raise ValidationError(f"A runtime role can have up to {MAX_VARIABLES} variables.")
        if self.row_errors:
            raise ValidationError("Some environment variables need correcting; see below.")
        self.environment = environment
        return data

    def save(self, commit: bool = True) -> RuntimeRole:
        role = super().save(commit=False)
        role.set_environment(self.environment)
        if commit:
            role.save()
        return role

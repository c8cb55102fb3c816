from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from datasources.models import DataSource
from datasources.streams import normalize_stream_input, split_credentials


class DataSourceForm(forms.ModelForm):
    """Add or edit a camera stream. Passwords are write-only: the form never shows one."""

    username = forms.CharField(max_length=255, required=False, label="User name")
    password = forms.CharField(
        max_length=255,
        required=False,
        widget=forms.PasswordInput(render_value=False),
        help_text="Stored encrypted. Leave empty to keep the saved password.",
    )
    clear_credentials = forms.BooleanField(
        required=False, label="Remove the saved credentials (the camera needs none)"
    )

    class Meta:
        model = DataSource
        fields = ["name", "description", "url"]

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._previous_url = self.instance.url if self.instance.pk else ""
        if self.instance.pk:
            # The name is the camera package's name: fixed once registered.
            self.fields["name"].disabled = True
            if self.instance.has_credentials:
                self.fields["username"].help_text = "Saved as secret. Leave empty to keep it."
        else:
            del self.fields["clear_credentials"]
            self.fields["password"].help_text = "Stored encrypted, never shown again."

    def clean(self) -> dict:
        cleaned = super().clean()
        if "url" not in cleaned:
            return cleaned
        typed = cleaned["url"]
        try:
            url, username, password = normalize_stream_input(
                typed, cleaned.get("username", ""), cleaned.get("password", "")
            )
        except ValidationError as exc:
            self.add_error("url", exc)
            url = split_credentials(typed)[0]
        else:
            cleaned["url"], cleaned["username"], cleaned["password"] = url, username, password
        # Never send a typed password back into the page: the form shows the stripped URL.
        self.data = self.data.copy()
        self.data["url"] = url
        return cleaned

    def save(self, commit: bool = True) -> DataSource:
        previous_url = self._previous_url
        source = super().save(commit=False)
        source.change_credentials(
            self.cleaned_data.get("username", ""),
            self.cleaned_data.get("password", ""),
            clear=bool(self.cleaned_data.get("clear_credentials")),
            previous_url=previous_url,
        )
        if commit:
            source.save()
        return source

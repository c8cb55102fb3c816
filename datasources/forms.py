from __future__ import annotations

from django import forms

from datasources.models import DataSource
from datasources.streams import split_credentials, validate_stream_url


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
        if self.instance.pk:
            # The name is the camera package's name: fixed once registered.
            self.fields["name"].disabled = True
            if self.instance.has_credentials:
                self.fields["username"].help_text = "Saved as secret. Leave empty to keep it."
        else:
            del self.fields["clear_credentials"]
            self.fields["password"].help_text = "Stored encrypted, never shown again."

    def clean_url(self) -> str:
        url, username, password = split_credentials(self.cleaned_data["url"])
        validate_stream_url(url)
        self._credentials_from_url = (username, password)
        return url

    def clean(self) -> dict:
        cleaned = super().clean()
        from_url = getattr(self, "_credentials_from_url", ("", ""))
        if any(from_url):
            if cleaned.get("username") or cleaned.get("password"):
                self.add_error(
                    "url",
                    "Credentials are both in the URL and in the credential fields; keep one.",
                )
            cleaned["username"], cleaned["password"] = from_url
        return cleaned

    def save(self, commit: bool = True) -> DataSource:
        source = super().save(commit=False)
        source.change_credentials(
            self.cleaned_data.get("username", ""),
            self.cleaned_data.get("password", ""),
            clear=bool(self.cleaned_data.get("clear_credentials")),
        )
        if commit:
            source.save()
        return source

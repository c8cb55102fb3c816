"""Forms of the access keys pages (``views_keys.py``)."""

from __future__ import annotations

from django import forms

from core.models import User


class AccessKeyCreateForm(forms.Form):
    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        help_text="The key acts with this user's role: a Viewer's key only reads.",
    )
    description = forms.CharField(
        max_length=100,
        required=False,
        help_text="What the key is for, e.g. 'provisioning script'.",
    )

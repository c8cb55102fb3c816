from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib.auth.forms import BaseUserCreationForm
from django.utils import timezone

from core.models import User


class UserCreateForm(BaseUserCreationForm):
    class Meta:
        model = User
        fields = ["username", "first_name", "last_name", "email", "role"]


class UserUpdateForm(forms.ModelForm):
    class Meta:
        model = User
        fields = ["first_name", "last_name", "email", "role", "is_active"]
        labels = {"is_active": "Active (may sign in)"}


class APITokenCreateForm(forms.Form):
    EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]

    user = forms.ModelChoiceField(
        queryset=User.objects.filter(is_active=True).order_by("username"),
        help_text="The token acts with this user's role.",
    )
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. 'deploy script'.")
    read_only = forms.BooleanField(
        required=False, initial=True, help_text="Read-only tokens are refused on every change."
    )
    expires_in_days = forms.ChoiceField(choices=EXPIRY_CHOICES, required=False, initial="90")

    def expiry(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=int(days)) if days else None

"""``manage.py create_access_key <username> [--description TEXT]``: a new access key pair.

Prints two shell-friendly lines, for automation::

    AWS_ACCESS_KEY_ID=VKIA...
    AWS_SECRET_ACCESS_KEY=...

(``eval "$(manage.py create_access_key ci | sed 's/^/export /')"``). The secret is printed only
this once and stored encrypted; the key acts with the user's role.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from core.models import User
from panorama_api.models import AccessKey


class Command(BaseCommand):
    help = (
        "Create a Panorama API access key for a user and print it as AWS_ACCESS_KEY_ID=... and "
        "AWS_SECRET_ACCESS_KEY=... lines (the secret is shown only this once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("username", help="The user the key acts as (with that user's role).")
        parser.add_argument(
            "--description", default="", help="What the key is for (at most 100 characters)."
        )

    def handle(self, *args, username: str, description: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}: create the user first.")
        if not user.is_active:
            raise CommandError(f"User {username!r} is deactivated: its keys would be refused.")
        field = AccessKey._meta.get_field("description")
        if len(description) > field.max_length:
            raise CommandError(f"--description is longer than {field.max_length} characters.")
        key, secret = AccessKey.make(user, description)
        self.stdout.write(f"AWS_ACCESS_KEY_ID={key.access_key_id}")
        self.stdout.write(f"AWS_SECRET_ACCESS_KEY={secret}")
        self.stderr.write(
            f"Access key for {user.get_username()} ({user.effective_role.label}); the secret is "
            "printed only this once."
        )

"""Create the first administrator if there is none, and print its generated password once."""

import secrets

from django.core.management.base import BaseCommand

from core.models import Installation, User
from core.roles import Role


class Command(BaseCommand):
    help = "Create an administrator named 'admin' with a generated password, if none exists."

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin")

    def handle(self, *args, username: str, **options):
        Installation.get()
        if (
            User.objects.filter(is_superuser=True, is_active=True).exists()
            or User.objects.filter(role=Role.ADMINISTRATOR, is_active=True).exists()
        ):
            self.stdout.write("An administrator exists already; no password printed.")
            return
        password = secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, password=password, role=Role.ADMINISTRATOR)
        self.stdout.write(
            self.style.SUCCESS(
                f"Administrator created. User name: {username}  Password: {password}\n"
                "This password is printed only this once; change it after signing in."
            )
        )

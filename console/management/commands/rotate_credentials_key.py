"""Re-encrypt every stored secret under the first key of CREDENTIALS_KEY."""

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction

from core import crypto


class Command(BaseCommand):
    help = (
        "Re-encrypt all stored secrets with the current key. Put the new key first in "
        "CREDENTIALS_KEY (new,old), run this, then remove the old key."
    )

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = getattr(model, "encrypted_fields", ())
            if not fields:
                continue
            with transaction.atomic():
                for row in model.objects.select_for_update().only("pk", *fields):
                    changed = {
                        f: crypto.reencrypt(getattr(row, f)) for f in fields if getattr(row, f)
                    }
                    if changed:
                        model.objects.filter(pk=row.pk).update(**changed)
                        total += len(changed)
            self.stdout.write(f"{model._meta.label}: re-encrypted")
        self.stdout.write(
            self.style.SUCCESS(f"{total} secret(s) now encrypted under the current key.")
        )

from django.apps import AppConfig

from devices import keys


class DevicesConfig(AppConfig):
    name = "devices"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A bad RELEASE_SIGNING_KEY or LOG_IMAGE_KEY stops the start here, naming the variable.
        keys.check_keys()

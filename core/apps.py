from django.apps import AppConfig

from core import crypto


class CoreConfig(AppConfig):
    name = "core"
    # The label stays "console": User, Installation, APIToken and ServiceHeartbeat were created
    # by the console app, so existing databases hold them as console_* tables with migration
    # history under "console", contenttypes and audit rows name "console", and
    # AUTH_USER_MODEL is "console.User". Moving the code must not move the data.
    label = "console"
    verbose_name = "Vantage core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # A bad CREDENTIALS_KEY stops the start here, naming the variable.
        crypto.check_keys()

from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    name = "console"
    verbose_name = "Vantage console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from console import audit, crypto, dashboard

        # A bad CREDENTIALS_KEY stops the start here, naming the variable.
        crypto.check_keys()
        audit.register_models()
        dashboard.connect_signals()

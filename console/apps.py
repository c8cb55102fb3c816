from django.apps import AppConfig

from devices import hooks


class ConsoleConfig(AppConfig):
    """The roof: settings, URLs, ASGI, Celery, dashboard and audit log, above every app.

    Its models (User, Installation, APIToken, ServiceHeartbeat) moved to ``core``, which keeps
    the label "console" so that existing databases keep their tables and migration history;
    this app therefore needs a label of its own. It has no models.
    """

    name = "console"
    label = "vantage_console"
    verbose_name = "Vantage console"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not at the top: apps.py is imported before the models are loaded, and these modules
        # import the models of every app.
        from console import audit, dashboard, tasks

        audit.register_models()
        dashboard.connect_signals()
        # The link writes with UPDATEs, which send no model signals: it asks for a recount.
        hooks.on_counts_changed(tasks.broadcast_dashboard_soon)

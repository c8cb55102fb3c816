from django.apps import AppConfig


class PanoramaApiConfig(AppConfig):
    name = "panorama_api"
    verbose_name = "Panorama API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not at the top: apps.py is imported before the models are loaded, and the operations
        # import them. Importing them registers them (panorama_api/registry.py).
        from panorama_api import operations  # noqa: F401

from django.apps import AppConfig


class PanoramaApiConfig(AppConfig):
    name = "panorama_api"
    verbose_name = "Panorama API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from panorama_api import operations  # noqa: F401 (registers the operations)

from django.apps import AppConfig


class DataSourcesConfig(AppConfig):
    name = "datasources"
    default_auto_field = "django.db.models.BigAutoField"

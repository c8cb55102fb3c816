from django.apps import AppConfig

from devicelink.messages import StreamCheckBody
from devices import hooks


class DataSourcesConfig(AppConfig):
    name = "datasources"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not at the top: apps.py is imported before the models are loaded, and appliance.py
        # imports them.
        from datasources import appliance

        # Stream checks run on appliances, through the device link (devices, a layer below).
        hooks.on_report(StreamCheckBody, appliance.store_result)
        hooks.on_link_claim("check_stream", appliance.claim_link_messages)
        hooks.on_sweep(appliance.expire_appliance_checks)

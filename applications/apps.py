from django.apps import AppConfig

from datasources import hooks as camera_hooks
from devicelink.apps import ApplicationReport
from devices import hooks


class ApplicationsConfig(AppConfig):
    name = "applications"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Not at the top: apps.py is imported before the models are loaded, and these modules
        # import them.
        from applications import (
            camera_packages,
            camera_usage,
            desired,
            metrics,
            observe,
            workflow,
        )

        # What the device link (devices, a layer below) does for applications.
        hooks.on_report(ApplicationReport, workflow.apply_report)
        hooks.on_heartbeat(metrics.record_heartbeat)
        hooks.on_offline(workflow.devices_went_offline)
        hooks.desired_section("applications", desired.device_applications)
        hooks.on_logs(observe.app_logs_added)
        hooks.on_device_page(observe.device_metrics_context)
        # Every camera stream (datasources, a layer below) is a node package, used by instances.
        camera_hooks.on_saved(camera_packages.register_camera_package)
        camera_hooks.on_deleted(camera_packages.delete_camera_package)
        camera_hooks.set_usage(camera_usage)

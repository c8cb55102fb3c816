"""The device pages: the fleet list, a device's page, its setup, logs and software images."""

from devices.views.device import DeviceDeleteView, DeviceDetailView, DeviceEditView
from devices.views.fleet import BulkActionView, DeviceListView
from devices.views.logs import DeviceLogsDownloadView, LogImportView
from devices.views.setup import DeviceArchiveView, DeviceSetupView
from devices.views.software import SoftwareAddView, SoftwareDeleteView, SoftwareListView

__all__ = [
    "BulkActionView",
    "DeviceArchiveView",
    "DeviceDeleteView",
    "DeviceDetailView",
    "DeviceEditView",
    "DeviceListView",
    "DeviceLogsDownloadView",
    "DeviceSetupView",
    "LogImportView",
    "SoftwareAddView",
    "SoftwareDeleteView",
    "SoftwareListView",
]

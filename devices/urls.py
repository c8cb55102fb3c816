from django.urls import path

from devices import views
from devices.views.output import output_stream
from devices.wizard import DeviceSetupWizard

# Fixed paths first: a device id never is "add", "bulk" or "software".
urlpatterns = [
    path("", views.DeviceListView.as_view(), name="device-list"),
    path("add/", DeviceSetupWizard.as_view(), name="device-add"),
    path("bulk/", views.BulkActionView.as_view(), name="device-bulk"),
    path("software/", views.SoftwareListView.as_view(), name="software-list"),
    path("software/add/", views.SoftwareAddView.as_view(), name="software-add"),
    path(
        "software/<str:version>/delete/",
        views.SoftwareDeleteView.as_view(),
        name="software-delete",
    ),
    path("<str:device_id>/", views.DeviceDetailView.as_view(), name="device-detail"),
    path("<str:device_id>/output.mjpeg", output_stream, name="device-output"),
    path("<str:device_id>/setup/", views.DeviceSetupView.as_view(), name="device-setup"),
    path(
        "<str:device_id>/setup/archive/",
        views.DeviceArchiveView.as_view(),
        name="device-archive",
    ),
    path("<str:device_id>/edit/", views.DeviceEditView.as_view(), name="device-edit"),
    path("<str:device_id>/delete/", views.DeviceDeleteView.as_view(), name="device-delete"),
    path(
        "<str:device_id>/logs.txt",
        views.DeviceLogsDownloadView.as_view(),
        name="device-logs-download",
    ),
    path(
        "<str:device_id>/logs/import/",
        views.LogImportView.as_view(),
        name="device-logs-import",
    ),
]

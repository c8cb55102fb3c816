"""The registries the apps above devices fill in their AppConfig.ready(): a missing entry would
silently drop reports, desired state or checks, so this says what must be there."""

from datasources import hooks as camera_hooks
from devicelink.apps import ApplicationReport
from devicelink.messages import StreamCheckBody
from devices import hooks


def test_the_apps_above_devices_registered_what_the_link_calls():
    assert set(hooks.report_handlers) == {ApplicationReport, StreamCheckBody}
    assert set(hooks.desired_sections) == {"applications"}
    assert set(hooks.link_claims) == {"check_stream"}
    assert hooks.heartbeat_hooks and hooks.logs_hooks and hooks.sweep_hooks
    assert hooks.offline_hooks
    assert hooks.device_page_context and hooks.counts_changed_hooks


def test_applications_registered_camera_packages_and_usage():
    assert camera_hooks.saved_hooks and camera_hooks.deleted_hooks
    assert camera_hooks._usage, "nobody tells the camera pages who uses a stream"

"""Changes made through the Panorama API are audited with the access key's user (issue #20)."""

from __future__ import annotations

from auditlog.models import LogEntry

from tests.support.devices import make_device
from tests.support.panorama import checked


def test_a_signed_change_is_logged_with_the_access_keys_user(panorama, administrator):
    device = make_device("lobby-1", description="old")
    client = checked(panorama(user=administrator))
    client.update_device_metadata(DeviceId=device.device_id, Description="Front door")
    entry = LogEntry.objects.get_for_object(device).filter(action=LogEntry.Action.UPDATE).get()
    assert entry.changes_dict["description"] == ["old", "Front door"]
    assert entry.actor == administrator

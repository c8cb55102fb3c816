"""Channel-layer group names: one module, prefixes that never overlap."""

from core import groups
from core.groups import GROUP_PATTERN, LINK_GROUP_PATTERN
from core.ids import new_application_instance_id, new_device_id


def test_browsers_may_subscribe_to_the_live_groups_only():
    device_id, iid = new_device_id(), new_application_instance_id()
    for live_group in (groups.FLEET, groups.device(device_id), groups.app(iid)):
        assert GROUP_PATTERN.match(live_group)
    # What only the console's own processes may read: link messages and raw HDMI frames.
    for private in (groups.link(device_id), groups.output(device_id)):
        assert not GROUP_PATTERN.match(private), private
    assert LINK_GROUP_PATTERN.match(groups.link(device_id))
    assert not LINK_GROUP_PATTERN.match(groups.output(device_id))

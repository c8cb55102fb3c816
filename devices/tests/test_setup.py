"""The setup wizard (Name, Configure), the configuration archive and the setup page's states."""

from __future__ import annotations

import html
from datetime import timedelta

import pytest
from django.utils import timezone

from core.status import DeviceConnectionStatus, DeviceStatus
from devicelink.archive import CA_MEMBER, read_archive
from devicelink.network import NetworkPayload
from devices import keys
from devices.models import Device, ProvisioningCredential, hash_token
from tests.support.devices import make_device

pytestmark = pytest.mark.django_db

WIZARD = "/devices/add/"
PREFIX = "device_setup_wizard"

NETWORK_DEFAULTS = {
    "eth0_connection": "DHCP",
    "eth1_connection": "DHCP",
    "ntp_servers": "pool.ntp.org",
}
STATIC_ETH0 = {
    "eth0_connection": "STATIC_IP",
    "eth0_ip_address": "192.168.0.20",
    "eth0_mask": "255.255.255.0",
    "eth0_gateway": "192.168.0.1",
    "eth0_dns": "192.168.0.2, 8.8.8.8",
}


def post_step(client, step: str, data: dict):
    payload = {f"{PREFIX}-current_step": step}
    payload.update({f"{step}-{key}": value for key, value in data.items()})
    return client.post(WIZARD, payload)


def run_wizard(client, name: str = "lobby-1", network: dict | None = None, **name_data):
    client.get(WIZARD)
    response = post_step(client, "name", {"name": name, **name_data})
    assert response.status_code == 200, response.content
    assert "Advanced network settings" in response.content.decode(), "stuck on the name step"
    return post_step(client, "configure", {**NETWORK_DEFAULTS, **(network or {})})


def name_errors(client, **data) -> str:
    client.get(WIZARD)
    response = post_step(client, "name", data)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


# --- step 1: name ---------------------------------------------------------------------------------


def test_wizard_shows_panoramas_steps_and_texts(admin_client):
    page = html.unescape(admin_client.get(WIZARD).content.decode())
    for text in ("Specify name", "Configure", "Download file", "Power on", "Done",
                 "We'll help you set up your device",
                 "Provide a unique name. You can't edit this name later.",
                 "The description can have up to 255 characters."):  # fmt: skip
        assert text in page, text


def test_name_must_use_valid_characters(admin_client):
    page = name_errors(admin_client, name="lobby 1!")
    assert "Use only letters a-z A-Z, digits 0-9, underscore (_) and hyphen (-)." in page
    assert not Device.objects.exists()


def test_name_is_required(admin_client):
    assert "This field is required." in name_errors(admin_client, name="")


def test_description_is_at_most_255_characters(admin_client):
    page = name_errors(admin_client, name="ok", description="x" * 256)
    assert "Ensure this value has at most 255 characters (it has 256)." in page


def test_duplicate_name_is_refused(admin_client):
    make_device(name="lobby-1")
    page = name_errors(admin_client, name="lobby-1")
    assert "A device named lobby-1 exists already." in page


@pytest.mark.parametrize(
    ("keys_", "values", "message"),
    [
        (["bad key!"], ["x"], "Tag key 'bad key!': use 1 to 128 characters"),
        (["k" * 129], ["x"], "use 1 to 128 characters"),
        (["site"], ["v" * 257], "Tag 'site': the value can have up to 256"),
        (["site", "site"], ["a", "b"], "Tag key 'site' is used twice"),
        ([""], ["orphan"], "has no key; every tag needs a key"),
        ([f"k{i}" for i in range(51)], ["v"] * 51, "A device can have up to 50 tags; you gave 51."),
    ],
)
def test_tags_are_checked(admin_client, keys_, values, message):
    page = name_errors(admin_client, name="t1", tags_key=keys_, tags_value=values)
    assert message in page


def test_quota_is_checked_at_the_name_step(admin_client, settings):
    settings.DEVICE_QUOTA = 2
    make_device(name="a")
    make_device(name="b")
    page = name_errors(admin_client, name="c")
    assert (
        "You have 2 devices, the most this installation allows (DEVICE_QUOTA). Delete one or "
        "raise the quota." in page
    )


# --- step 2: configure ----------------------------------------------------------------------------


def configure_errors(client, network: dict) -> str:
    client.get(WIZARD)
    post_step(client, "name", {"name": "net-1"})
    response = post_step(client, "configure", {**NETWORK_DEFAULTS, **network})
    assert response.status_code == 200
    assert not Device.objects.filter(name="net-1").exists()
    return html.unescape(response.content.decode())


@pytest.mark.parametrize(
    ("network", "message"),
    [
        ({"eth0_connection": "STATIC_IP"}, "Give the IP address for a static IP address."),
        ({"eth0_connection": "STATIC_IP"}, "Give the subnet mask for a static IP address."),
        ({"eth0_connection": "STATIC_IP"}, "Give the default gateway for a static IP address."),
        ({"eth0_connection": "STATIC_IP"}, "Give 1 to 3 DNS servers for a static IP address."),
        ({**STATIC_ETH0, "eth0_ip_address": "192.168.0.300"},
         "The IP address must be an IPv4 address such as 192.168.0.10."),
        ({**STATIC_ETH0, "eth0_mask": "255.0.255.0"},
         "The mask must be a subnet mask such as 255.255.255.0 or a prefix length such as 24."),
        ({**STATIC_ETH0, "eth0_gateway": "gateway"},
         "The default gateway must be an IPv4 address such as 192.168.0.10."),
        ({**STATIC_ETH0, "eth0_gateway": "10.0.0.1"},
         "The default gateway 10.0.0.1 is outside the subnet 192.168.0.0/24."),
        ({**STATIC_ETH0, "eth0_ip_address": "192.168.0.255"},
         "The IP address 192.168.0.255 is the network or broadcast address of 192.168.0.0/24."),
        ({**STATIC_ETH0, "eth0_dns": "1.1.1.1, dns.example"},
         "Each DNS server must be an IPv4 address such as 192.168.0.10."),
        ({**STATIC_ETH0, "eth0_dns": "1.1.1.1 1.0.0.1 8.8.8.8 8.8.4.4"},
         "Give at most 3 DNS servers."),
        ({"eth1_connection": "STATIC_IP", "eth1_ip_address": "10.1.1.1", "eth1_mask": "33"},
         "The mask must be a subnet mask"),
        ({"ntp_servers": "not a host!"}, "is neither a host name (such as pool.ntp.org) nor"),
        ({"ntp_servers": "time.example:99999"}, "the port must be a number from 1 to 65535."),
        ({"ntp_servers": ""}, "Give at least one NTP server"),
        ({"ntp_servers": "\n".join(f"ntp{i}.example" for i in range(6))},
         "Give at most 5 NTP servers."),
    ],
)  # fmt: skip
def test_network_fields_are_checked_with_specific_messages(admin_client, network, message):
    page = configure_errors(admin_client, network)
    assert message in page
    assert '<details class="card mb-3" open' in page  # the errors are not hidden


def test_the_errors_sit_next_to_their_fields(admin_client):
    page = configure_errors(admin_client, {**STATIC_ETH0, "eth0_gateway": "10.0.0.1"})
    assert 'data-testid="error-eth0_gateway"' in page
    assert 'data-testid="error-eth0_ip_address"' not in page


# --- finishing: the device is created -------------------------------------------------------------


def test_finishing_creates_the_device_and_leads_to_its_setup_page(admin_client):
    response = run_wizard(
        admin_client,
        name="lobby-1",
        description="Main entrance",
        tags_key=["site", "floor", ""],
        tags_value=["lobby", "", ""],
        network={**STATIC_ETH0, "ntp_servers": "time.example\npool.ntp.org"},
    )
    device = Device.objects.get(name="lobby-1")
    assert response.status_code == 302
    assert response["Location"] == f"/devices/{device.device_id}/setup/"
    assert device.provisioning_status == DeviceStatus.AWAITING_PROVISIONING
    assert device.description == "Main entrance"
    assert device.tags == {"site": "lobby", "floor": ""}
    payload = NetworkPayload.model_validate(device.network_config)
    assert payload.Ethernet0.ConnectionType == "STATIC_IP"
    assert payload.Ethernet0.StaticIpConnectionInfo.Dns == ["192.168.0.2", "8.8.8.8"]
    assert payload.Ethernet1.ConnectionType == "DHCP"
    assert payload.Ntp.NtpServers == ["time.example", "pool.ntp.org"]
    assert device.network_config == payload.model_dump()


def test_defaults_are_dhcp_and_pool_ntp(admin_client):
    run_wizard(admin_client, name="plain")
    assert Device.objects.get(name="plain").network_config == NetworkPayload().model_dump()


def test_the_quota_is_checked_again_when_finishing(admin_client, settings):
    admin_client.get(WIZARD)
    post_step(admin_client, "name", {"name": "late"})
    settings.DEVICE_QUOTA = 1
    make_device(name="first")
    response = post_step(admin_client, "configure", NETWORK_DEFAULTS)
    assert response.status_code == 200
    assert "You have 1 devices, the most this installation allows" in response.content.decode()
    assert not Device.objects.filter(name="late").exists()


def test_only_administrators_set_up_devices(operator_client, viewer_client):
    assert operator_client.get(WIZARD).status_code == 403
    assert viewer_client.get(WIZARD).status_code == 403
    assert post_step(operator_client, "name", {"name": "x"}).status_code == 403


# --- the archive ----------------------------------------------------------------------------------


def download(client, device: Device):
    return client.post(f"/devices/{device.device_id}/setup/archive/")


def test_archive_download_holds_a_one_time_credential_stored_only_as_hash(admin_client, settings):
    device = make_device(
        name="gate-1", network_config=NetworkPayload.model_validate({
            "Ntp": {"NtpServers": ["time.example"]}}).model_dump(),
    )  # fmt: skip
    response = download(admin_client, device)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"] == 'attachment; filename="certificates-omni_gate-1.zip"'
    assert response["Cache-Control"] == "no-store"
    config, ca = read_archive(response.content)
    assert ca is None
    assert config.device_id == device.device_id
    assert config.device_name == "gate-1"
    assert config.console_url == settings.CONSOLE_URL
    assert config.network.Ntp.NtpServers == ["time.example"]
    assert config.release_public_key == keys.release_public_key()
    assert config.log_public_key == keys.log_public_key()
    assert config.heartbeat_s == settings.DEVICE_HEARTBEAT_S
    credential = ProvisioningCredential.objects.get(device=device)
    assert credential.credential_id == config.credential_id
    assert credential.token_hash == hash_token(config.provisioning_token)
    assert credential.token_hash != config.provisioning_token
    assert credential.expires_at - credential.created == timedelta(minutes=5)
    assert config.expires_at == credential.expires_at
    # Nothing the console stores or shows holds the token.
    page = admin_client.get(f"/devices/{device.device_id}/setup/").content.decode()
    assert config.provisioning_token not in page
    api = admin_client.get(f"/api/devices/{device.device_id}/").content.decode()
    assert config.provisioning_token not in api


def test_the_power_on_step_names_the_local_appliances_usb_folder(admin_client, settings):
    device = make_device("local-1")
    download(admin_client, device)
    page = admin_client.get(f"/devices/{device.device_id}/setup/").content.decode()
    assert 'data-testid="local-usb-dir"' not in page  # no local appliance: the drive's root
    settings.LOCAL_APPLIANCE_USB_DIR = "/srv/vantage/var/appliance/usb"
    page = admin_client.get(f"/devices/{device.device_id}/setup/").content.decode()
    assert "save <code>certificates-omni_local-1.zip</code> in its USB folder" in page
    assert "<code>/srv/vantage/var/appliance/usb</code>" in page


def test_a_new_archive_supersedes_the_old_one(admin_client):
    device = make_device(name="gate-2")
    first, _ = read_archive(download(admin_client, device).content)
    second, _ = read_archive(download(admin_client, device).content)
    assert first.provisioning_token != second.provisioning_token
    old = ProvisioningCredential.objects.get(credential_id=first.credential_id)
    new = ProvisioningCredential.objects.get(credential_id=second.credential_id)
    assert old.superseded_at is not None and not old.is_usable
    assert new.superseded_at is None and new.is_usable


def test_the_archive_carries_the_consoles_ca_when_configured(admin_client, settings, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
    settings.CONSOLE_CA_FILE = str(ca)
    device = make_device(name="gate-3")
    _config, ca_pem = read_archive(download(admin_client, device).content)
    assert ca_pem == ca.read_bytes()
    import zipfile
    from io import BytesIO

    assert CA_MEMBER in zipfile.ZipFile(BytesIO(download(admin_client, device).content)).namelist()


def test_no_archive_for_a_device_that_is_set_up(admin_client):
    device = make_device(name="done-1", provisioning_status=DeviceStatus.SUCCEEDED)
    response = download(admin_client, device)
    assert response.status_code == 302
    assert not ProvisioningCredential.objects.filter(device=device).exists()
    page = admin_client.get(response["Location"]).content.decode()
    assert "done-1 is set up already" in page


def test_only_administrators_download_archives(operator_client, viewer_client):
    device = make_device(name="gate-4")
    assert download(operator_client, device).status_code == 403
    assert download(viewer_client, device).status_code == 403
    assert operator_client.get(f"/devices/{device.device_id}/setup/").status_code == 403
    assert not ProvisioningCredential.objects.exists()


# --- the setup page's states ----------------------------------------------------------------------


def setup_page(client, device: Device) -> str:
    response = client.get(f"/devices/{device.device_id}/setup/")
    assert response.status_code == 200
    return response.content.decode()


def test_setup_page_states(admin_client):
    device = make_device(name="stage-1")
    page = setup_page(admin_client, device)
    assert 'data-state="download"' in page
    assert 'data-testid="download-archive"' in page
    assert (
        'id="setup-status"' in page
        and f'ws-connect="/ws/live/?groups=device-{device.device_id}"' in page
    )

    download(admin_client, device)
    page = setup_page(admin_client, device)
    assert 'data-state="waiting"' in page
    assert "The archive was downloaded at" in page
    assert 'data-testid="new-archive"' in page  # downloadable once: only a new one is offered
    assert 'data-testid="download-archive"' not in page
    assert "data-countdown=" in page
    assert "Copy <code>certificates-omni_stage-1.zip</code> to the <strong>root</strong>" in page

    ProvisioningCredential.objects.filter(device=device).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    page = setup_page(admin_client, device)
    assert 'data-state="expired"' in page
    assert "before the appliance checked in. Create a new archive" in page
    assert "data-countdown=" not in page

    ProvisioningCredential.objects.filter(device=device).update(used_at=timezone.now())
    Device.objects.filter(pk=device.pk).update(provisioning_status=DeviceStatus.PENDING)
    assert 'data-state="registering"' in setup_page(admin_client, device)

    Device.objects.filter(pk=device.pk).update(
        provisioning_status=DeviceStatus.SUCCEEDED,
        connection_status=DeviceConnectionStatus.ONLINE,
    )
    page = setup_page(admin_client, device)
    assert 'data-state="connected"' in page
    assert "Your appliance is now connected and online." in page
    assert f'href="/devices/{device.device_id}/" data-testid="setup-done"' in page


def test_a_failed_provisioning_says_so(admin_client):
    device = make_device(name="stage-2", provisioning_status=DeviceStatus.FAILED)
    assert 'data-state="failed"' in setup_page(admin_client, device)

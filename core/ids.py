"""Identifiers in Panorama's formats (spec section 1)."""

from __future__ import annotations

import base64
import os


def random_suffix() -> str:
    """26 lowercase base32 characters, as in ``device-4tafxmplhtmzabv5lsacba4ere``."""
    return base64.b32encode(os.urandom(20)).decode().lower()[:26]


def new_device_id() -> str:
    return f"device-{random_suffix()}"


def new_application_instance_id() -> str:
    return f"applicationInstance-{random_suffix()}"


def new_package_id() -> str:
    return f"package-{random_suffix()}"

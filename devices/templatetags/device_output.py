"""``{% output_panel device [instance] %}``: the "View output" panel (devices/output.py)."""

from __future__ import annotations

from django import template
from django.template.loader import render_to_string
from django.utils.safestring import SafeString

from devices.output import owner_context

register = template.Library()


@register.simple_tag
def output_panel(device, instance=None) -> SafeString:
    # The same context the live owner updates render with, so a reload shows what they show.
    return render_to_string(
        "devices/partials/output.html#output-panel", owner_context(device, instance)
    )

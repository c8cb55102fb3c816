from django import template

from datasources import usage

register = template.Library()


@register.filter
def used_by(source):
    """The active application instances fed by this camera stream."""
    return usage.used_by(source)

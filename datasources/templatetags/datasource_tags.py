from django import template

from datasources import hooks

register = template.Library()


@register.filter
def used_by(source):
    """The active application instances fed by this camera stream."""
    return hooks.used_by(source)

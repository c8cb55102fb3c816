from django import template

from core.status import BadgeStyle, badge_style, status_label

register = template.Library()


@register.filter(name="badge_style")
def badge_style_filter(value: str) -> BadgeStyle:
    return badge_style(str(value))


@register.filter(name="status_label")
def status_label_filter(value: str) -> str:
    return status_label(str(value))


@register.filter
def bootstrap_widget(field) -> str:
    """Render a bound field's widget with Bootstrap classes and its help and error links."""
    widget = field.field.widget
    css = "form-select" if widget.__class__.__name__.endswith("Select") else "form-control"
    if field.errors:
        css += " is-invalid"
    attrs = {"class": css}
    if field.help_text:
        attrs["aria-describedby"] = f"{field.id_for_label}-help"
    if field.errors:
        attrs["aria-invalid"] = "true"
    return field.as_widget(attrs=attrs)

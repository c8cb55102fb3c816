"""Field validators shared by every app."""

from django.core.validators import RegexValidator

# Panorama's resource names: devices, camera streams, application instances.
resource_name_validator = RegexValidator(
    regex=r"^[a-zA-Z0-9_-]+$",
    message="Use only letters a-z A-Z, digits 0-9, underscore (_) and hyphen (-).",
    code="invalid_name",
)

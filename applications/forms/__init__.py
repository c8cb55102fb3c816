"""Forms of the application pages: the deploy wizard's steps, runtime roles, a model's INT8
option."""

from applications.forms.compiles import Int8Form
from applications.forms.roles import RuntimeRoleForm
from applications.forms.wizard import (
    LAUNCH_CHOICES,
    ConfigureForm,
    DataSourcesForm,
    DetailsForm,
    DeviceForm,
    ManifestForm,
    ReviewForm,
    RuntimeRoleChoiceForm,
    camera_sources,
    deployable_devices,
)

__all__ = [
    "LAUNCH_CHOICES",
    "ConfigureForm",
    "DataSourcesForm",
    "DetailsForm",
    "DeviceForm",
    "Int8Form",
    "ManifestForm",
    "ReviewForm",
    "RuntimeRoleChoiceForm",
    "RuntimeRoleForm",
    "camera_sources",
    "deployable_devices",
]

"""The application pages: instances, the deploy wizard, runtime roles and packages."""

from applications.views.compiles import ModelInt8View, ModelPrecisionView
from applications.views.deploy import DeployWizard
from applications.views.instances import (
    ApplicationInstanceDetailView,
    ApplicationInstanceListView,
    InstanceRemoveView,
    NodeSignalView,
    PayloadDownloadView,
)
from applications.views.observe import AppLogsDownloadView
from applications.views.packages import PackageDetailView, PackageListView, PatchDeregisterView
from applications.views.roles import (
    RuntimeRoleCreateView,
    RuntimeRoleDeleteView,
    RuntimeRoleListView,
    RuntimeRoleUpdateView,
)

__all__ = [
    "AppLogsDownloadView",
    "ApplicationInstanceDetailView",
    "ApplicationInstanceListView",
    "DeployWizard",
    "InstanceRemoveView",
    "ModelInt8View",
    "ModelPrecisionView",
    "NodeSignalView",
    "PackageDetailView",
    "PackageListView",
    "PatchDeregisterView",
    "PayloadDownloadView",
    "RuntimeRoleCreateView",
    "RuntimeRoleDeleteView",
    "RuntimeRoleListView",
    "RuntimeRoleUpdateView",
]

from django.urls import path

from applications import views

urlpatterns = [
    path("", views.ApplicationInstanceListView.as_view(), name="application-list"),
    path("deploy/", views.DeployWizard.as_view(), name="application-deploy"),
    path("roles/", views.RuntimeRoleListView.as_view(), name="runtimerole-list"),
    path("roles/add/", views.RuntimeRoleCreateView.as_view(), name="runtimerole-add"),
    path("roles/<int:pk>/", views.RuntimeRoleUpdateView.as_view(), name="runtimerole-edit"),
    path(
        "roles/<int:pk>/delete/", views.RuntimeRoleDeleteView.as_view(), name="runtimerole-delete"
    ),
    path(
        "<str:application_instance_id>/",
        views.ApplicationInstanceDetailView.as_view(),
        name="application-detail",
    ),
    path(
        "<str:application_instance_id>/remove/",
        views.InstanceRemoveView.as_view(),
        name="application-remove",
    ),
    path(
        "<str:application_instance_id>/signal/",
        views.NodeSignalView.as_view(),
        name="application-signal",
    ),
    path(
        "<str:application_instance_id>/logs.txt",
        views.AppLogsDownloadView.as_view(),
        name="application-logs-download",
    ),
    path(
        "<str:application_instance_id>/<str:filename>",
        views.PayloadDownloadView.as_view(),
        name="application-payload",
    ),
]

package_urlpatterns = [
    path("", views.PackageListView.as_view(), name="package-list"),
    path("<int:pk>/", views.PackageDetailView.as_view(), name="package-detail"),
    path(
        "<int:pk>/patches/<int:patch_pk>/deregister/",
        views.PatchDeregisterView.as_view(),
        name="package-patch-deregister",
    ),
    path(
        "<int:pk>/patches/<int:patch_pk>/assets/<int:asset_pk>/int8/",
        views.ModelInt8View.as_view(),
        name="package-model-int8",
    ),
    path(
        "<int:pk>/patches/<int:patch_pk>/compiles/<int:compile_pk>/precision/",
        views.ModelPrecisionView.as_view(),
        name="package-model-precision",
    ),
]

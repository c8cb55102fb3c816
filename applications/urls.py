from django.urls import path

from applications import views

urlpatterns = [
    path("", views.ApplicationInstanceListView.as_view(), name="application-list"),
]

package_urlpatterns = [
    path("", views.PackageListView.as_view(), name="package-list"),
    path("<int:pk>/", views.PackageDetailView.as_view(), name="package-detail"),
    path(
        "<int:pk>/patches/<int:patch_pk>/deregister/",
        views.PatchDeregisterView.as_view(),
        name="package-patch-deregister",
    ),
]

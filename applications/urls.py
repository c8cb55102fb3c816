from django.urls import path

from applications import views

urlpatterns = [
    path("", views.ApplicationInstanceListView.as_view(), name="application-list"),
]

package_urlpatterns = [
    path("", views.PackageListView.as_view(), name="package-list"),
]

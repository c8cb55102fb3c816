from django.urls import path

from datasources import views

urlpatterns = [
    path("", views.DataSourceListView.as_view(), name="datasource-list"),
    path("add/", views.DataSourceCreateView.as_view(), name="datasource-add"),
    path("<int:pk>/edit/", views.DataSourceUpdateView.as_view(), name="datasource-edit"),
    path("<int:pk>/delete/", views.DataSourceDeleteView.as_view(), name="datasource-delete"),
    path("<int:pk>/check/", views.DataSourceCheckView.as_view(), name="datasource-check"),
    path(
        "checks/<int:pk>/snapshot.jpg",
        views.StreamCheckSnapshotView.as_view(),
        name="datasource-check-snapshot",
    ),
]

from django.urls import path

from datasources import views

urlpatterns = [
    path("", views.DataSourceListView.as_view(), name="datasource-list"),
]

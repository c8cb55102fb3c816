from django.urls import path

from devices import views

urlpatterns = [
    path("", views.DeviceListView.as_view(), name="device-list"),
]

from django.urls import re_path

from panorama_api import views

urlpatterns = [re_path(r"^(?P<path>.*)$", views.dispatch, name="panorama-api")]

"""The REST API under /api/: one router for every app."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from applications.api.compile_views import CompiledModelViewSet
from applications.api.package_views import AssetView, NodePackageViewSet, NodeViewSet
from applications.api.views import ApplicationInstanceViewSet
from console.api.views import APITokenViewSet, InstallationView, UserViewSet
from core.roles import ANY_USER
from datasources.api.views import DataSourceViewSet
from devices.api.views import DeviceJobViewSet, DeviceViewSet, SoftwareImageViewSet


class APIRootRouter(DefaultRouter):
    # The browsable root lists the endpoints; any signed-in role may read it.
    def get_api_root_view(self, api_urls=None):
        view = super().get_api_root_view(api_urls)
        view.cls.policy = ANY_USER
        return view


router = APIRootRouter()
# "api-" basenames keep API route names apart from the pages' (device-list is the HTML page).
router.register("devices", DeviceViewSet, basename="api-device")
router.register("device-jobs", DeviceJobViewSet, basename="api-device-job")
router.register("software-images", SoftwareImageViewSet, basename="api-software-image")
router.register("datasources", DataSourceViewSet, basename="api-datasource")
router.register("application-instances", ApplicationInstanceViewSet, basename="api-application")
router.register("users", UserViewSet, basename="api-user")
router.register("tokens", APITokenViewSet, basename="api-token")
router.register("packages", NodePackageViewSet, basename="api-package")
router.register("nodes", NodeViewSet, basename="api-node")
router.register("model-compiles", CompiledModelViewSet, basename="api-model-compile")


class SchemaView(SpectacularAPIView):
    policy = ANY_USER


class SwaggerView(SpectacularSwaggerSplitView):
    # The split view serves Swagger UI's start-up script as a file of its own: the CSP refuses
    # the inline one (core/csp.py).
    policy = ANY_USER


urlpatterns = [
    path("", include(router.urls)),
    path("installation/", InstallationView.as_view(), name="api-installation"),
    path("assets/<str:sha256>/", AssetView.as_view(), name="api-asset"),
    path("schema/", SchemaView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]

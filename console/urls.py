from django.contrib.auth import views as auth_views
from django.urls import include, path

from applications.urls import package_urlpatterns
from console import views
from core import live
from panorama_api import views_keys

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("account/password/", views.OwnPasswordChangeView.as_view(), name="password-change"),
    path("devices/", include("devices.urls")),
    path("datasources/", include("datasources.urls")),
    path("applications/", include("applications.urls")),
    path("packages/", include(package_urlpatterns)),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("settings/users/", views.UserListView.as_view(), name="user-list"),
    path("settings/users/add/", views.UserCreateView.as_view(), name="user-add"),
    path("settings/users/<int:pk>/", views.UserUpdateView.as_view(), name="user-edit"),
    path("settings/tokens/", views.APITokenListView.as_view(), name="token-list"),
    path("settings/tokens/add/", views.APITokenCreateView.as_view(), name="token-add"),
    path(
        "settings/tokens/<int:pk>/revoke/", views.APITokenRevokeView.as_view(), name="token-revoke"
    ),
    path("settings/access-keys/", views_keys.AccessKeyListView.as_view(), name="access-key-list"),
    path(
        "settings/access-keys/add/", views_keys.AccessKeyCreateView.as_view(), name="access-key-add"
    ),
    path(
        "settings/access-keys/<int:pk>/enable/",
        views_keys.AccessKeyEnableView.as_view(),
        name="access-key-enable",
    ),
    path(
        "settings/access-keys/<int:pk>/delete/",
        views_keys.AccessKeyDeleteView.as_view(),
        name="access-key-delete",
    ),
    path("settings/audit/", views.AuditLogView.as_view(), name="audit-log"),
    path("api/", include("console.api.urls")),
    path("healthz", views.healthz, name="healthz"),
    path("panorama/", include("panorama_api.urls")),
    path("agent/v1/", include("devices.agent_urls")),
    path("agent/v1/", include("applications.agent_urls")),
    path(live.RELAY_PATH.lstrip("/"), live.relay_view, name="live-relay"),
]

import django_tables2 as tables
from auditlog.models import LogEntry

from core.models import APIToken, User


class UserTable(tables.Table):
    username = tables.Column(linkify=("user-edit", {"pk": tables.A("pk")}))
    effective_role = tables.Column(verbose_name="Role", orderable=False)

    class Meta:
        model = User
        fields = [
            "username",
            "first_name",
            "last_name",
            "email",
            "effective_role",
            "is_active",
            "last_login",
        ]
        attrs = {"class": "table table-hover align-middle"}


class APITokenTable(tables.Table):
    display_prefix = tables.Column(verbose_name="Token", orderable=False)
    revoke = tables.TemplateColumn(
        template_name="console/partials/token_revoke_button.html", verbose_name="", orderable=False
    )

    class Meta:
        model = APIToken
        fields = ["name", "display_prefix", "user", "read_only", "expires", "last_used", "created"]
        attrs = {"class": "table table-hover align-middle"}


class AuditTable(tables.Table):
    timestamp = tables.DateTimeColumn(verbose_name="When", format="Y-m-d H:i:s")
    actor = tables.Column(verbose_name="Who", default="system")
    # Shown through Python (a display label, ContentType.name), sorted by database columns.
    action = tables.Column(verbose_name="Action", accessor="get_action_display", order_by="action")
    content_type = tables.Column(
        verbose_name="Kind",
        accessor="content_type__name",
        order_by=("content_type__app_label", "content_type__model"),
    )
    object_repr = tables.Column(verbose_name="Object")
    changes = tables.TemplateColumn(
        template_name="console/partials/audit_changes.html",
        verbose_name="Before → after",
        orderable=False,
    )

    class Meta:
        model = LogEntry
        fields = [
            "timestamp",
            "actor",
            "action",
            "content_type",
            "object_repr",
            "changes",
            "remote_addr",
        ]
        attrs = {"class": "table table-sm align-middle"}

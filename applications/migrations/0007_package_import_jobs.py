"""Panorama API: PackageId for node packages, JobTags of node-from-template jobs, package import
jobs. Existing packages get a PackageId each (a unique column cannot share one default)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import core.ids


def give_package_ids(apps, schema_editor):
    NodePackage = apps.get_model("applications", "NodePackage")
    for package in NodePackage.objects.filter(package_id__isnull=True):
        package.package_id = core.ids.new_package_id()
        package.save(update_fields=["package_id"])


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0006_package_tags"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="nodepackage",
            name="package_id",
            field=models.CharField(editable=False, max_length=40, null=True),
        ),
        migrations.RunPython(give_package_ids, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="nodepackage",
            name="package_id",
            field=models.CharField(
                default=core.ids.new_package_id, editable=False, max_length=40, unique=True
            ),
        ),
        migrations.AddField(
            model_name="nodefromtemplatejob",
            name="job_tags",
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.CreateModel(
            name="PackageImportJob",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("job_id", models.UUIDField(unique=True)),
                ("client_token", models.CharField(max_length=64, unique=True)),
                (
                    "job_type",
                    models.CharField(
                        choices=[
                            ("NODE_PACKAGE_VERSION", "Node package version"),
                            (
                                "MARKETPLACE_NODE_PACKAGE_VERSION",
                                "Marketplace node package version",
                            ),
                        ],
                        default="NODE_PACKAGE_VERSION",
                        max_length=40,
                    ),
                ),
                ("input_config", models.JSONField(default=dict)),
                ("output_config", models.JSONField(default=dict)),
                ("job_tags", models.JSONField(blank=True, default=list)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("PENDING", "Pending"),
                            ("SUCCEEDED", "Succeeded"),
                            ("FAILED", "Failed"),
                        ],
                        default="PENDING",
                        max_length=16,
                    ),
                ),
                ("status_message", models.CharField(blank=True, max_length=1000)),
                ("output_location", models.JSONField(blank=True, default=dict)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("updated", models.DateTimeField(auto_now=True)),
                (
                    "patch",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="applications.patchversion",
                    ),
                ),
                (
                    "requested_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"ordering": ["-created"]},
        ),
    ]

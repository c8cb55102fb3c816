import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("applications", "0009_camera_package_credentials"),
    ]

    operations = [
        migrations.CreateModel(
            name="CompiledModel",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("framework", models.CharField(max_length=16)),
                ("inputs", models.JSONField(default=list)),
                ("inputs_key", models.CharField(max_length=64)),
                ("precision", models.CharField(default="FP32", max_length=8)),
                ("compiler_version", models.CharField(max_length=32)),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("PENDING", "Pending"),
                            ("IN_PROGRESS", "In progress"),
                            ("SUCCEEDED", "Succeeded"),
                            ("FAILED", "Failed"),
                        ],
                        default="PENDING",
                        max_length=16,
                    ),
                ),
                ("progress", models.CharField(blank=True, max_length=255)),
                ("message", models.TextField(blank=True)),
                ("framework_missing", models.BooleanField(default=False)),
                ("verification", models.JSONField(blank=True, default=dict)),
                ("calibration", models.JSONField(blank=True, default=dict)),
                ("threshold", models.FloatField(blank=True, null=True)),
                ("accuracy", models.JSONField(blank=True, default=dict)),
                ("in_use", models.BooleanField(default=False)),
                ("created", models.DateTimeField(auto_now_add=True)),
                ("started", models.DateTimeField(blank=True, null=True)),
                ("finished", models.DateTimeField(blank=True, null=True)),
                (
                    "result",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="compiled_from",
                        to="applications.asset",
                    ),
                ),
                (
                    "source",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="compiles",
                        to="applications.asset",
                    ),
                ),
            ],
            options={
                "ordering": ["-created"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("source", "inputs_key", "precision", "compiler_version"),
                        name="one_compile_per_key",
                    )
                ],
            },
        ),
    ]

"""API tokens get scopes. Tokens made before scopes existed were made for the ingest API, so
they keep `ingest` and nothing else: the redemption API now needs a `redeem` token."""

from django.db import migrations, models


def existing_tokens_ingest_only(apps, schema_editor):
    IngestToken = apps.get_model("advocates", "IngestToken")
    IngestToken.objects.all().update(scopes=["ingest"])


class Migration(migrations.Migration):

    dependencies = [
        ("advocates", "0005_report_indexes"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="ingesttoken",
            options={"ordering": ["-created_at"], "verbose_name": "API token"},
        ),
        migrations.AddField(
            model_name="ingesttoken",
            name="scopes",
            field=models.JSONField(default=list,
                                   help_text="What the token may do (TokenScope)."),
        ),
        migrations.RunPython(existing_tokens_ingest_only, migrations.RunPython.noop),
    ]

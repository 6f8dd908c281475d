"""Indexes the reports need on advocates tables (rewards/reports/rollups.py says how each is
used): which rows changed since the last rollup refresh, and the ranges a refresh or a
report's partial periods count again.

On PostgreSQL each index is built CONCURRENTLY: the mention and outreach tables take webhooks
and status changes all the time, and a plain CREATE INDEX would block those writes for as long
as the build takes (seconds per million rows). That needs a migration outside a transaction.
Afterwards the tables are analysed, so the planner has statistics for the new expression
(without them it guesses a third of the mentions match a "changed since" filter and scans).
"""

import django.db.models.functions.comparison
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(migrations.AddIndex):
    """AddIndex, built with CREATE INDEX CONCURRENTLY on PostgreSQL (plainly elsewhere)."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.add_index(model, self.index, concurrently=True)
        else:
            schema_editor.add_index(model, self.index)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        model = from_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.remove_index(model, self.index, concurrently=True)
        else:
            schema_editor.remove_index(model, self.index)


def analyze(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in ("advocates_mention", "advocates_outreach", "advocates_advocacyevent",
                      "advocates_socialidentity"):
            schema_editor.execute(f"ANALYZE {table}")


class Migration(migrations.Migration):

    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("advocates", "0004_thank_threshold_calibrated"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="advocacyevent",
            index=models.Index(fields=["occurred_at"], include=("advocate", "platform", "kind"),
                               name="event_occurred"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="advocacyevent",
            index=models.Index(fields=["created_at"], name="event_created"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="advocacyevent",
            index=models.Index(fields=["advocate", "occurred_at"], include=("platform",),
                               name="event_advocate_time"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="mention",
            index=models.Index(django.db.models.functions.comparison.Coalesce(
                "detected_at", "received_at"), name="mention_changed"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="outreach",
            index=models.Index(fields=["created_at"], name="outreach_created"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="outreach",
            index=models.Index(fields=["updated_at"], name="outreach_updated"),
        ),
        AddIndexConcurrentlyOnPostgres(
            model_name="socialidentity",
            index=models.Index(fields=["first_seen_at"], include=("platform", "advocate"),
                               name="identity_first_seen"),
        ),
        migrations.RunPython(analyze, migrations.RunPython.noop, elidable=True),
    ]

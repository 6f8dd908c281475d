"""Finance reads the reconciliation with Stripe (rewards 0013): the runs and their items, in
Reports › Reconciliation. Both are written only by the runs (read-only for everyone)."""

from django.db import migrations

from advocates.roles import FINANCE, group_grant


def grant(apps, schema_editor):
    group_grant(apps, FINANCE, ["rewards.view_reconciliationrun",
                                "rewards.view_reconciliationitem"])


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0007_finance_reads_reversals"),
        ("rewards", "0013_reconciliation"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

"""Finance reads refunds and disputes (rewards.RedemptionReversal, rewards 0012), beside the
redemptions they reverse. The rows are written only by Stripe's events (read-only for all)."""

from django.db import migrations

from advocates.roles import FINANCE, group_grant


def grant(apps, schema_editor):
    group_grant(apps, FINANCE, ["rewards.view_redemptionreversal"])


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0006_reward_rule_workflow"),
        ("rewards", "0012_refunds_and_disputes"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

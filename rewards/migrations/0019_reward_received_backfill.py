"""Advocates who already received a reward (a grant delivered, then maybe redeemed or expired)
get `Advocate.reward_received_at`, so reshares of their posts carry a disclosure line from now
on; `grants_mark_delivered` keeps it for new grants."""

from django.db import migrations
from django.db.models import Max


def backfill(apps, schema_editor):
    Advocate = apps.get_model("advocates", "Advocate")
    RewardGrant = apps.get_model("rewards", "RewardGrant")
    latest = (RewardGrant.objects.filter(delivered_at__isnull=False)
              .values("advocate_id").annotate(at=Max("delivered_at")).order_by())
    for row in latest.iterator():
        Advocate.objects.filter(pk=row["advocate_id"]).update(reward_received_at=row["at"])


class Migration(migrations.Migration):

    dependencies = [
        ("advocates", "0015_disclosure_templates_reward_received"),
        ("rewards", "0018_perk_points_price"),
    ]

    operations = [
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]

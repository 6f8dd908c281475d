"""Rules tied to reviews are refused (FTC 16 CFR 465.4; Google's review-incentive ban).

The demo's "Great review: 4 stars or more" becomes a first-check-in rule with the same
reward; any other rule triggered by reviews is taken offline (it would never fire anyway, see
`RewardRule.compliance_refusal`). Their revisions are rewritten too, so the editor and a later
publish show the compliant rule, not the refused one. Grants made before are not touched.
"""

from django.db import migrations, models

DEMO_OLD = "Great review: 4 stars or more"
DEMO_NEW = "First check-in at a store: ¥200 off"
DEMO_CHANGES = {"name": DEMO_NEW, "trigger": "first_checkin", "period": "ever"}


def _rewrite(Revision, rule, changes: dict) -> None:
    for rev_id in {rule.latest_revision_id, rule.live_revision_id} - {None}:
        revision = Revision.objects.filter(pk=rev_id).first()
        if revision is None or not isinstance(revision.content, dict):
            continue
        revision.content = {**revision.content, **changes}
        revision.save(update_fields=["content"])


def refuse_review_rules(apps, schema_editor):
    RewardRule = apps.get_model("rewards", "RewardRule")
    Revision = apps.get_model("wagtailcore", "Revision")
    for rule in RewardRule.objects.filter(models.Q(trigger="review") | models.Q(
            trigger="events_in_days", trigger_event_kind="review")):
        if rule.name == DEMO_OLD and rule.trigger == "review":
            changes = dict(DEMO_CHANGES)
        else:
            changes = {"live": False, "trigger_event_kind": ""} if rule.trigger != "review" \
                else {"live": False}
        for field, value in changes.items():
            setattr(rule, field, value)
        rule.save(update_fields=list(changes))
        _rewrite(Revision, rule, {k: v for k, v in changes.items() if k != "live"})


class Migration(migrations.Migration):

    dependencies = [
        ('rewards', '0013_reconciliation'),
    ]

    operations = [
        migrations.AlterField(
            model_name='rewardrule',
            name='trigger',
            field=models.CharField(choices=[('events_in_days', 'N advocacy events in D days'), ('tier_reached', 'Reaching a tier'), ('first_checkin', 'First check-in at a venue'), ('review', 'A review of at least N stars (not allowed)')], default='events_in_days', max_length=20),
        ),
        migrations.RunPython(refuse_review_rules, migrations.RunPython.noop),
    ]

"""Give the staff roles their rewards permissions: marketing runs the program, finance
approves grants and reads the money, social staff see grants (their messages are in the queue)."""

from django.db import migrations

from advocates.roles import FINANCE, MARKETING, SOCIAL_STAFF, group_grant

PROGRAM = ["rewardrule", "tier", "perk", "perkfulfilment"]
WAGTAIL_ACTIONS = {"rewardrule": ["publish", "lock", "unlock"], "perk": ["publish"]}


def grant(apps, schema_editor):
    marketing = []
    for model in PROGRAM:
        for action in ["add", "change", "delete", "view", *WAGTAIL_ACTIONS.get(model, [])]:
            marketing.append(f"rewards.{action}_{model}")
    marketing += ["rewards.view_rewardgrant", "rewards.view_fraudflag",
                  "rewards.change_rewardssettings", "rewards.view_rewardssettings"]
    group_grant(apps, MARKETING, marketing)
    group_grant(apps, FINANCE, [
        "rewards.view_rewardgrant", "rewards.change_rewardgrant", "rewards.view_discountcode",
        "rewards.view_redemption", "rewards.view_stripeevent", "rewards.view_rewardrule",
        "rewards.view_perk", "rewards.view_pointsentry", "rewards.view_fraudflag",
        "rewards.change_fraudflag"])
    group_grant(apps, SOCIAL_STAFF, ["rewards.view_rewardgrant"])


class Migration(migrations.Migration):
    dependencies = [
        ("rewards", "0003_ledger_cursor_max_processed"),
        ("cms", "0003_roles"),
    ]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

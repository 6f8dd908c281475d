"""Marketing proposes manual points adjustments for a person and finance approves them
(issue 15): both may open the advocate's profile and list (`advocates.view_advocate`). Codes
stay masked there for roles that may not see codes, amounts for roles without redemptions."""

from django.db import migrations

from advocates.roles import FINANCE, MARKETING, group_grant

PERMISSION = "advocates.view_advocate"


def forwards(apps, schema_editor):
    for group in (MARKETING, FINANCE):
        group_grant(apps, group, [PERMISSION])


def backwards(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name__in=[MARKETING, FINANCE]):
        group.permissions.remove(*Permission.objects.filter(
            content_type__app_label="advocates", content_type__model="advocate",
            codename="view_advocate"))


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0009_money_changes_need_another_approver"),
        ("advocates", "0013_suppression_disclosure_reminder"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]

"""The till (issue 15): a `use_till` permission, and a "Store staff" role that holds only it
(and the admin sign-in). Finance may use the till too.

Backwards removes the role; the permission goes with the model option.
"""

from django.db import migrations

from advocates.roles import FINANCE, STORE_STAFF, group_grant

TILL = "rewards.redemption:use_till"


def grant(apps, schema_editor):
    group_grant(apps, STORE_STAFF, ["wagtailadmin.access_admin", TILL])
    group_grant(apps, FINANCE, [TILL])


def ungrant(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=STORE_STAFF).delete()


class Migration(migrations.Migration):

    dependencies = [
        ("rewards", "0016_disclosure_watch"),
        ("cms", "0003_roles"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="redemption",
            options={"ordering": ["-redeemed_at", "-id"],
                     "permissions": [("use_till",
                                      "Can look up codes and record redemptions at the till")]},
        ),
        migrations.RunPython(grant, ungrant),
    ]

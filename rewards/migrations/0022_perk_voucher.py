"""Perk fulfilments get a voucher the till takes (issue 15). Existing rows get one each before
the column becomes required and unique (a default would give them all the same one)."""

from django.db import migrations, models

import rewards.codes


def fill(apps, schema_editor):
    PerkFulfilment = apps.get_model("rewards", "PerkFulfilment")
    taken: set[str] = set()
    for row in PerkFulfilment.objects.filter(voucher__isnull=True).only("pk"):
        code = rewards.codes.perk_voucher_generate()
        while code in taken:
            code = rewards.codes.perk_voucher_generate()
        taken.add(code)
        PerkFulfilment.objects.filter(pk=row.pk).update(voucher=code)


class Migration(migrations.Migration):

    dependencies = [
        ("rewards", "0021_redemption_stripe_customer"),
    ]

    operations = [
        migrations.AddField(
            model_name="perkfulfilment", name="voucher",
            field=models.CharField(max_length=20, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="perkfulfilment", name="voucher",
            field=models.CharField(default=rewards.codes.perk_voucher_generate, max_length=20,
                                   unique=True),
        ),
    ]

"""Money validation: ISO 4217 currencies (rewards/currencies.py), text without NUL or
surrogates, and tiers with a level so that thresholds can be checked to rise with it. Existing
tiers get their levels from their thresholds, lowest first."""

import django.core.validators
import rewards.currencies
from django.db import migrations, models


def levels_from_thresholds(apps, schema_editor):
    Tier = apps.get_model("rewards", "Tier")
    for level, tier in enumerate(Tier.objects.order_by("threshold", "id"), start=1):
        Tier.objects.filter(pk=tier.pk).update(level=level)


class Migration(migrations.Migration):

    dependencies = [
        ('rewards', '0010_private_delivery_customer_code_off'),
    ]

    operations = [
        migrations.AddField(
            model_name='tier',
            name='level',
            field=models.PositiveSmallIntegerField(default=1, help_text='Its place in the ladder: 1 for the first tier, 2 for the next. A higher level needs more points.', validators=[django.core.validators.MinValueValidator(1)]),
        ),
        migrations.AlterField(
            model_name='perk',
            name='currency',
            field=rewards.currencies.CurrencyField(default='jpy', help_text='ISO 4217, e.g. JPY or USD.', validators=[rewards.currencies.validate_currency]),
        ),
        migrations.AlterField(
            model_name='perk',
            name='description',
            field=models.TextField(blank=True, validators=[rewards.currencies.validate_text]),
        ),
        migrations.AlterField(
            model_name='perk',
            name='description_ja',
            field=models.TextField(blank=True, validators=[rewards.currencies.validate_text], verbose_name='description (Japanese)'),
        ),
        migrations.AlterField(
            model_name='perk',
            name='name',
            field=models.CharField(max_length=120, validators=[rewards.currencies.validate_text]),
        ),
        migrations.AlterField(
            model_name='perk',
            name='name_ja',
            field=models.CharField(blank=True, max_length=120, validators=[rewards.currencies.validate_text], verbose_name='name (Japanese)'),
        ),
        migrations.AlterField(
            model_name='rewardrule',
            name='currency',
            field=rewards.currencies.CurrencyField(default='jpy', help_text='ISO 4217, e.g. JPY or USD.', validators=[rewards.currencies.validate_currency]),
        ),
        migrations.AlterField(
            model_name='rewardrule',
            name='name',
            field=models.CharField(max_length=120, validators=[rewards.currencies.validate_text]),
        ),
        migrations.AlterField(
            model_name='tier',
            name='name',
            field=models.CharField(max_length=60, validators=[rewards.currencies.validate_text]),
        ),
        migrations.AlterField(
            model_name='tier',
            name='name_ja',
            field=models.CharField(blank=True, max_length=60, validators=[rewards.currencies.validate_text], verbose_name='name (Japanese)'),
        ),
        migrations.RunPython(levels_from_thresholds, migrations.RunPython.noop),
    ]

"""The shipped thank-you threshold is the detector's calibrated 0.66 (was 0.6).

Settings rows still at the old default move to the new one; a value marketing chose is kept.
"""

from django.db import migrations, models


def forwards(apps, schema_editor):
    DetectorSettings = apps.get_model("advocates", "DetectorSettings")
    DetectorSettings.objects.filter(thank_threshold=0.6).update(thank_threshold=0.66)


class Migration(migrations.Migration):

    dependencies = [("advocates", "0003_default_templates_account_pages")]

    operations = [
        migrations.AlterField(
            model_name="detectorsettings",
            name="thank_threshold",
            field=models.FloatField(
                default=0.66,
                help_text="Minimum detector confidence (0–1) to propose a thank-you."),
        ),
        migrations.RunPython(forwards, migrations.RunPython.noop),
    ]

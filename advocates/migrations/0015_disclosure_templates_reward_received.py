"""Disclosure words become reply templates marketing edits (EN and JA): the reminder to a
rewarded advocate (`disclosure`) and the line on a reshare of their post (`reshare_pr`).
`Advocate.reward_received_at` says whose posts need that line (rewards fills it in).

The texts are frozen here, as shipped (the reminder's were `REMINDER_TEXT` in
rewards/services/disclosure.py); `advocates.services.templates.BUILT_IN_TEXTS` holds the same
words for when no template of the purpose is live.
"""

from django.db import migrations, models

# (name, purpose, language, text)
TEMPLATES = [
    ("Disclosure reminder (EN)", "disclosure", "en",
     "Hi {first_name}, thank you for posting about {brand} again! As you received a reward "
     "from us, please add #ad or #PR to your posts about us so your followers know. Thank you "
     "for your support!"),
    ("開示のお願い (JA)", "disclosure", "ja",
     "{first_name}さん、いつも{brand}について投稿してくださりありがとうございます！以前に特典を"
     "お受け取りいただいているため、私たちについての投稿には「#PR」などの表記を添えていただけますと"
     "幸いです。ご協力ありがとうございます！"),
    ("Reshare disclosure line (EN)", "reshare_pr", "en",
     "#ad {handle} has received a reward from {brand}."),
    ("再共有の開示表記 (JA)", "reshare_pr", "ja",
     "#PR {handle}さんには{brand}から特典を提供しています。"),
]


def seed_disclosure_templates(apps, schema_editor):
    ReplyTemplate = apps.get_model("advocates", "ReplyTemplate")
    ReplyTemplateVariant = apps.get_model("advocates", "ReplyTemplateVariant")
    for name, purpose, language, text in TEMPLATES:
        if ReplyTemplate.objects.filter(purpose=purpose, language=language).exists():
            continue
        template = ReplyTemplate.objects.create(
            name=name, purpose=purpose, language=language, live=True,
            notes="Default text shipped with Kansha (docs/compliance.md); edit the words, keep "
                  "a disclosure marker such as #ad or #PR.")
        ReplyTemplateVariant.objects.create(template=template, sort_order=0, text=text)


class Migration(migrations.Migration):

    dependencies = [
        ('advocates', '0014_care_alerts'),
    ]

    operations = [
        migrations.AddField(
            model_name='advocate',
            name='reward_received_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='replytemplate',
            name='purpose',
            field=models.CharField(choices=[('praise', 'Thank-you for praise'), ('checkin', 'Thank-you for a check-in'), ('review', 'Thank-you for a review'), ('care', 'First response to a complaint'), ('answer', 'Answer to a question'), ('consent', 'Consent request before a reshare'), ('reward', 'Reward message (code or perk)'), ('disclosure', 'Disclosure reminder to a rewarded advocate'), ('reshare_pr', "Disclosure line on a reshare of a rewarded advocate's post")], max_length=10),
        ),
        migrations.RunPython(seed_disclosure_templates, migrations.RunPython.noop),
    ]

"""Questions get their own route and outreach kind (`answer`), answer templates pick
themselves by keywords, and questions have their own SLA. Ships default answer templates
(EN and JA): opening hours, Wi-Fi, allergens, and a general answer for any other question.
The texts are frozen here; marketing edits them (and the real hours) in the admin.
"""

from django.db import migrations, models

# (name, language, keywords, variants)
ANSWERS = [
    ("Opening hours (EN)", "en",
     ["open", "opening", "hours", "close", "closing", "holiday"],
     ["Hi {first_name}! {venue} is open 8:00–20:00 every day; holiday hours are posted on our "
      "profile a week ahead. Hope to see you soon!",
      "Thanks for asking, {first_name}! We're open 8:00–20:00 daily, and we announce any "
      "holiday changes on our profile."]),
    ("Wi-Fi (EN)", "en", ["wifi", "wi-fi", "internet", "password"],
     ["Hi {first_name}! Yes, every {brand} store has free Wi-Fi; the password is on your "
      "receipt.",
      "Yes, {first_name}, free Wi-Fi in all our stores. Just ask the team for the password!"]),
    ("Allergens (EN)", "en",
     ["allergy", "allergen", "allergic", "gluten", "nuts", "dairy", "vegan", "lactose"],
     ["Hi {first_name}, thanks for checking. Every item's allergens are listed on the menu "
      "board and our website; the team in store can show you the full list too.",
      "Good question, {first_name}. Our allergen list is on the menu and the website; if "
      "you're unsure, please ask the barista before ordering."]),
    ("General answer (EN)", "en", [],
     ["Hi {first_name}, thanks for your question! Let us check and get back to you shortly.",
      "Thanks for asking, {first_name}. We'll find out and reply here soon."]),
    ("営業時間 (JA)", "ja",
     ["営業", "何時", "開いて", "あいて", "開店", "閉店", "定休", "休み", "open"],
     ["{first_name}さん、お問い合わせありがとうございます！{venue}は毎日8:00〜20:00の営業です。"
      "祝日の営業時間はプロフィールで1週間前にお知らせします。",
      "{first_name}さん、ありがとうございます。営業時間は毎日8:00〜20:00です。変更がある場合は"
      "プロフィールでお知らせいたします。"]),
    ("Wi-Fi (JA)", "ja", ["wifi", "ワイファイ", "ネット", "インターネット", "パスワード"],
     ["{first_name}さん、はい、{brand}の全店で無料Wi-Fiをご利用いただけます。パスワードは"
      "レシートに記載しております。",
      "{first_name}さん、全店舗で無料Wi-Fiがございます。パスワードはスタッフにお尋ねください！"]),
    ("アレルギー (JA)", "ja",
     ["アレルギー", "アレルゲン", "小麦", "グルテン", "卵", "乳製品", "ナッツ", "ヴィーガン"],
     ["{first_name}さん、ご確認ありがとうございます。アレルギー情報はメニューと公式サイトに"
      "掲載しております。店頭でも一覧をご覧いただけます。",
      "{first_name}さん、アレルゲン情報はメニューと公式サイトでご確認いただけます。ご不明な点は"
      "ご注文前にスタッフへお声がけください。"]),
    ("一般的な回答 (JA)", "ja", [],
     ["{first_name}さん、お問い合わせありがとうございます！確認して改めてご連絡いたします。",
      "{first_name}さん、ご質問ありがとうございます。確認のうえ、こちらでご返信いたします。"]),
]


def seed_answer_templates(apps, schema_editor):
    ReplyTemplate = apps.get_model("advocates", "ReplyTemplate")
    ReplyTemplateVariant = apps.get_model("advocates", "ReplyTemplateVariant")
    for name, language, keywords, texts in ANSWERS:
        if ReplyTemplate.objects.filter(purpose="answer", name=name).exists():
            continue
        template = ReplyTemplate.objects.create(
            name=name, purpose="answer", language=language, keywords="\n".join(keywords),
            live=True, notes="Default text shipped with Kansha: put in your real answers.")
        ReplyTemplateVariant.objects.bulk_create(
            [ReplyTemplateVariant(template=template, sort_order=i, text=text)
             for i, text in enumerate(texts)])



class Migration(migrations.Migration):

    dependencies = [
        ('advocates', '0006_api_token_scopes'),
    ]

    operations = [
        migrations.AddField(
            model_name='detectorsettings',
            name='answer_sla_minutes',
            field=models.PositiveIntegerField(default=240, help_text='How soon a question must get an answer, counted from when it was posted.', verbose_name='answer SLA minutes'),
        ),
        migrations.AddField(
            model_name='replytemplate',
            name='keywords',
            field=models.TextField(blank=True, help_text='Answers only: words in a question that pick this template, one per line (e.g. wifi, ワイファイ). Case, spaces and hyphens do not matter. An answer template without keywords answers the questions no other template matches.', verbose_name='keywords'),
        ),
        migrations.AlterField(
            model_name='mention',
            name='route',
            field=models.CharField(blank=True, choices=[('thank', 'Thank'), ('care', 'Care'), ('answer', 'Answer'), ('none', 'None')], max_length=6),
        ),
        migrations.AlterField(
            model_name='outreach',
            name='kind',
            field=models.CharField(choices=[('reply', 'Thank-you reply'), ('reshare', 'Reshare'), ('dm', 'Direct message'), ('care', 'Care'), ('answer', 'Answer to a question'), ('consent', 'Consent request'), ('takedown', 'Take down reshare')], max_length=10),
        ),
        migrations.AlterField(
            model_name='replytemplate',
            name='purpose',
            field=models.CharField(choices=[('praise', 'Thank-you for praise'), ('checkin', 'Thank-you for a check-in'), ('review', 'Thank-you for a review'), ('care', 'First response to a complaint'), ('answer', 'Answer to a question'), ('consent', 'Consent request before a reshare'), ('reward', 'Reward message (code or perk)')], max_length=10),
        ),
        migrations.AlterField(
            model_name='sandboxpost',
            name='kind',
            field=models.CharField(choices=[('reply', 'Thank-you reply'), ('reshare', 'Reshare'), ('dm', 'Direct message'), ('care', 'Care'), ('answer', 'Answer to a question'), ('consent', 'Consent request'), ('takedown', 'Take down reshare')], max_length=10),
        ),
        migrations.RunPython(seed_answer_templates, migrations.RunPython.noop),
    ]

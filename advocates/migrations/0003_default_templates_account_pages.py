"""Data the demo needs to work out of the box: a sandbox brand account, default reply
templates (EN and JA, every purpose, several variants each) and the public consent and
opt-out pages in both languages under the home page.

The template texts are frozen here; marketing edits them in the admin afterwards.
"""

from django.db import migrations

TEMPLATES = {
    ("praise", "en"): [
        "Thank you so much, {first_name}! It means a lot to the whole {brand} team ☕",
        "{first_name}, this made our day! Thanks for the kind words, see you again soon.",
        "Thanks for the love, {first_name}! We'll pass it on to the team.",
        "So glad you enjoyed it, {first_name}! Thank you for sharing 🙏",
    ],
    ("checkin", "en"): [
        "Thanks for stopping by {venue}, {first_name}! Hope to see you again soon ☕",
        "Great to have you at {venue}, {first_name}. Thanks for checking in!",
        "{first_name}, thanks for visiting {venue}! Enjoy the rest of your day.",
    ],
    ("review", "en"): [
        "Thank you for the review, {first_name}! We're so happy you enjoyed your visit.",
        "{first_name}, thanks for taking the time to write this. It means a lot to our team!",
        "Thanks a lot for the kind review, {first_name}. We hope to welcome you back soon.",
    ],
    ("care", "en"): [
        "Hi {first_name}, we're sorry about this. Could you send us a DM with the details so "
        "we can make it right?",
        "{first_name}, sorry to hear that. It's not the experience we want for you. Please DM "
        "us and we'll look into it right away.",
        "We apologise, {first_name}. Please send us a message with your order details and our "
        "team will help.",
    ],
    ("consent", "en"): [
        "We love this, {first_name}! May we share it on the {brand} account? Reply #yes to "
        "agree (or #no), or answer here: {consent_url}",
        "{first_name}, could we repost this with credit to {handle}? Reply #yes if that's OK. "
        "Details: {consent_url}",
        "This is lovely, {first_name}! Would you let us feature it? Reply #yes to say yes. "
        "Terms: {consent_url}",
    ],
    ("reward", "en"): [
        "Thank you for being such a great supporter, {first_name}! Here's {reward}: use code "
        "{code} before {expires}.",
        "{first_name}, a little thank-you from {brand}: {reward} with code {code} (valid until "
        "{expires}).",
        "You've earned {reward}, {first_name}! Your code is {code}, good until {expires}. Enjoy!",
    ],
    ("praise", "ja"): [
        "{first_name}さん、温かいお言葉ありがとうございます！スタッフ一同とても励みになります☕",
        "{first_name}さん、嬉しい投稿をありがとうございます！またのお越しをお待ちしております。",
        "ありがとうございます、{first_name}さん！いただいた声はチームに共有させていただきます🙏",
    ],
    ("checkin", "ja"): [
        "{first_name}さん、{venue}にお越しいただきありがとうございます！また遊びに来てくださいね☕",
        "{venue}へのご来店ありがとうございます、{first_name}さん！素敵な一日をお過ごしください。",
        "{first_name}さん、チェックインありがとうございます！{venue}でまたお会いできるのを"
        "楽しみにしています。",
    ],
    ("review", "ja"): [
        "{first_name}さん、レビューをありがとうございます！楽しんでいただけて嬉しいです。",
        "丁寧なレビューをありがとうございます、{first_name}さん。スタッフ一同の励みになります！",
        "{first_name}さん、素敵なレビューに感謝いたします。またのご来店を心よりお待ちしております。",
    ],
    ("care", "ja"): [
        "{first_name}さん、ご不便をおかけし申し訳ございません。詳しい状況をDMでお知らせいただけ"
        "ますでしょうか。",
        "{first_name}さん、大変申し訳ございません。すぐに確認いたしますので、DMにて詳細をお送り"
        "ください。",
        "ご迷惑をおかけしてしまい申し訳ありません、{first_name}さん。担当者が対応いたしますので"
        "DMをお願いいたします。",
    ],
    ("consent", "ja"): [
        "{first_name}さん、素敵な投稿をありがとうございます！{brand}の公式アカウントでご紹介しても"
        "よろしいですか？OKでしたら「#はい」と返信してください（詳細：{consent_url}）",
        "{first_name}さん、こちらの投稿を{handle}さんのお名前入りでシェアさせていただけますか？"
        "よろしければ「#はい」とご返信ください。規約：{consent_url}",
        "とても素敵です、{first_name}さん！公式アカウントで紹介させていただけたら嬉しいです。"
        "「#はい」で同意、「#いいえ」でお断りいただけます。{consent_url}",
    ],
    ("reward", "ja"): [
        "{first_name}さん、いつも応援ありがとうございます！{reward}をお贈りします。コード：{code}"
        "（{expires}まで有効）",
        "{brand}からのささやかなお礼です、{first_name}さん。{reward}：コード {code}"
        "（有効期限 {expires}）",
        "{first_name}さん、{reward}をご用意しました！コード {code} を{expires}までにご利用ください。",
    ],
}

NAMES = {"praise": "Thanks for praise", "checkin": "Thanks for a check-in",
         "review": "Thanks for a review", "care": "First response to a complaint",
         "consent": "Consent request", "reward": "Reward message"}

PAGES = [
    # (model, slug, title, language, intro)
    ("consentpage", "consent", "Share your post with us?", "en",
     "<p>We would love to share your post on our account, with credit to you. You can say "
     "yes or no below, and change your mind at any time.</p>"),
    ("consentpage", "consent-ja", "投稿のご紹介について", "ja",
     "<p>あなたの投稿を、お名前を添えて公式アカウントでご紹介させてください。下のボタンで"
     "同意・お断りを選べます。いつでも取り消せます。</p>"),
    ("optoutpage", "opt-out", "Stop hearing from us", "en",
     "<p>Tell us your handle and we will never reply to, reshare or message you again.</p>"),
    ("optoutpage", "opt-out-ja", "配信停止", "ja",
     "<p>ハンドル名を入力すると、今後こちらから返信・シェア・メッセージをお送りすることは"
     "ありません。</p>"),
]
TERMS = {
    "en": "<p>You allow us to repost this post, unchanged and credited to you, on our social "
          "accounts for 12 months. You can withdraw at any time; we then take it down.</p>",
    "ja": "<p>この投稿を、内容を変えずにお名前を添えて、12か月間当社のSNSアカウントで紹介すること"
          "に同意いただきます。いつでも取り消すことができ、その場合は速やかに削除します。</p>",
}
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _next_path(Page, parent):
    last = (Page.objects.filter(path__startswith=parent.path, depth=parent.depth + 1)
            .order_by("-path").values_list("path", flat=True).first())
    number = 0
    if last:
        number = int(last[-4:], 36)
    number += 1
    step = ""
    while number:
        number, rest = divmod(number, 36)
        step = ALPHABET[rest] + step
    return parent.path + step.rjust(4, "0")


def forwards(apps, schema_editor):
    BrandAccount = apps.get_model("advocates", "BrandAccount")
    ReplyTemplate = apps.get_model("advocates", "ReplyTemplate")
    ReplyTemplateVariant = apps.get_model("advocates", "ReplyTemplateVariant")

    BrandAccount.objects.get_or_create(
        platform="sandbox", name="Sandbox",
        defaults={"handle": "@kanshacoffee", "platform_user_id": "kansha-sandbox",
                  "config": {}},
    )

    for (purpose, language), texts in TEMPLATES.items():
        if ReplyTemplate.objects.filter(purpose=purpose, language=language).exists():
            continue
        template = ReplyTemplate.objects.create(
            name=f"{NAMES[purpose]} ({language.upper()})", purpose=purpose, language=language,
            live=True, notes="Default text shipped with Kansha.")
        ReplyTemplateVariant.objects.bulk_create(
            [ReplyTemplateVariant(template=template, sort_order=i, text=text)
             for i, text in enumerate(texts)])

    HomePage = apps.get_model("cms", "HomePage")
    Page = apps.get_model("wagtailcore", "Page")
    ContentType = apps.get_model("contenttypes", "ContentType")
    home = HomePage.objects.order_by("path").first()
    if home is None:
        return
    for model_name, slug, title, language, intro in PAGES:
        Model = apps.get_model("advocates", model_name)
        if Page.objects.filter(path__startswith=home.path, depth=home.depth + 1,
                               slug=slug).exists():
            continue
        content_type, _ = ContentType.objects.get_or_create(app_label="advocates",
                                                            model=model_name)
        fields = {"language": language, "intro": intro}
        if model_name == "consentpage":
            fields.update(terms=TERMS[language], terms_version="2026-11")
        Model.objects.create(
            title=title, draft_title=title, slug=slug, content_type=content_type,
            path=_next_path(Page, home), depth=home.depth + 1, numchild=0,
            url_path=f"{home.url_path}{slug}/", live=True, locale_id=home.locale_id,
            show_in_menus=False, **fields,
        )
        Page.objects.filter(pk=home.pk).update(numchild=home.numchild + 1)
        home.numchild += 1


def backwards(apps, schema_editor):
    # The pages and templates may have been edited since; leave them (nothing depends on
    # their absence).
    pass


class Migration(migrations.Migration):

    dependencies = [
        ("advocates", "0002_outreach_consent_pages"),
        ("cms", "0002_create_homepage"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]

"""The public ambassador pages (English and Japanese) under the home page, linked to the
consent and opt-out pages of the same language (created by advocates 0003).

Idempotent: a page whose slug already exists under the home page is left as it is (marketing
edits the words in the admin afterwards). The texts are frozen here.
"""

from django.db import migrations

PAGES = [
    # (slug, title, language, intro, how to join, consent slug, opt-out slug)
    ("ambassadors", "Kansha Ambassadors", "en",
     "<p>Our ambassadors are the regulars who tell the world about us. Every post we thank "
     "earns points; points bring a tier, and tiers bring perks and thank-you discounts.</p>",
     "<p>There is nothing to sign up for. Post about us and mention @kanshacoffee, or check "
     "in at one of our stores. When we thank you for a post, it counts. We only ever reshare "
     "a post with its author's consent, and you can stop hearing from us at any time.</p>",
     "consent", "opt-out"),
    ("ambassadors-ja", "カンシャ・アンバサダー", "ja",
     "<p>アンバサダーは、私たちのことを発信してくださる常連のみなさまです。お礼をお送りした"
     "投稿ごとにポイントがたまり、ポイントに応じたランクで特典やお礼の割引をお贈りします。</p>",
     "<p>お申し込みは不要です。@kanshacoffee をつけて投稿するか、店舗でチェックインしてください。"
     "お礼をお送りした投稿がポイントの対象になります。投稿のシェアは必ずご本人の同意を"
     "いただいてから行い、連絡はいつでも停止できます。</p>",
     "consent-ja", "opt-out-ja"),
]
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _next_path(Page, parent):
    """The path of a new last child (treebeard's materialised path, base 36, 4 per level)."""
    last = (Page.objects.filter(path__startswith=parent.path, depth=parent.depth + 1)
            .order_by("-path").values_list("path", flat=True).first())
    number = int(last[-4:], 36) + 1 if last else 1
    step = ""
    while number:
        number, rest = divmod(number, 36)
        step = ALPHABET[rest] + step
    return parent.path + step.rjust(4, "0")


def forwards(apps, schema_editor):
    HomePage = apps.get_model("cms", "HomePage")
    AmbassadorPage = apps.get_model("cms", "AmbassadorPage")
    Page = apps.get_model("wagtailcore", "Page")
    ContentType = apps.get_model("contenttypes", "ContentType")
    home = HomePage.objects.order_by("path").first()
    if home is None:
        return
    children = Page.objects.filter(path__startswith=home.path, depth=home.depth + 1)
    content_type, _ = ContentType.objects.get_or_create(app_label="cms", model="ambassadorpage")
    for slug, title, language, intro, how_to_join, consent, opt_out in PAGES:
        if children.filter(slug=slug).exists():
            continue
        AmbassadorPage.objects.create(
            title=title, draft_title=title, slug=slug, content_type=content_type,
            path=_next_path(Page, home), depth=home.depth + 1, numchild=0,
            url_path=f"{home.url_path}{slug}/", live=True, locale_id=home.locale_id,
            show_in_menus=True, language=language, intro=intro, how_to_join=how_to_join,
            consent_page=children.filter(slug=consent).first(),
            opt_out_page=children.filter(slug=opt_out).first(),
        )
        home.numchild += 1
        Page.objects.filter(pk=home.pk).update(numchild=home.numchild)


class Migration(migrations.Migration):

    dependencies = [
        ("cms", "0004_ambassadorpage"),
        ("advocates", "0003_default_templates_account_pages"),
    ]

    # Backwards leaves the pages: they may have been edited, and nothing needs them gone.
    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]

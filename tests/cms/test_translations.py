"""Kansha in Japanese: every string Kansha's code marks for translation has a Japanese
translation, the compiled catalogue is the .po's, and the screens use it.

When a test here fails after you added or changed a string: run `make messages`, translate
the new (empty or fuzzy) entries in locale/ja/LC_MESSAGES/django.po, run `make messages`
again (it compiles the .mo) and commit both files. See README › Translations.
"""

from __future__ import annotations

import gettext
import html
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import translation
from wagtail.users.models import UserProfile

from tests.po import po_entries
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

ROOT = Path(settings.BASE_DIR)
PO = ROOT / "locale" / "ja" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")
HOW = ("run `make messages`, translate the new entries in locale/ja/LC_MESSAGES/django.po, "
       "run `make messages` again and commit the .po and .mo (README › Translations)")


def test_every_entry_of_the_japanese_catalogue_is_translated():
    entries = po_entries(PO)
    assert len(entries) > 400
    untranslated = [e.msgid for e in entries if not e.translated]
    fuzzy = [e.msgid for e in entries if "fuzzy" in e.flags]
    assert not untranslated, f"untranslated in ja: {untranslated[:10]} — {HOW}"
    assert not fuzzy, f"fuzzy (unchecked) in ja: {fuzzy[:10]} — {HOW}"


def test_the_compiled_catalogue_is_the_po():
    compiled = gettext.GNUTranslations(MO.open("rb"))
    stale = []
    for entry in po_entries(PO):
        if entry.msgid_plural:
            got = compiled.ngettext(entry.msgid, entry.msgid_plural, 1)
        elif entry.msgctxt is not None:
            got = compiled.pgettext(entry.msgctxt, entry.msgid)
        else:
            got = compiled.gettext(entry.msgid)
        if got != entry.msgstr[0]:
            stale.append(entry.msgid)
    assert not stale, f"django.mo is older than django.po ({stale[:5]}) — {HOW}"


@pytest.mark.skipif(not shutil.which("xgettext"), reason="gettext is not installed "
                    "(apt-get install gettext; .ci/run does)")
def test_makemessages_finds_no_new_string(tmp_path):
    """Every marked string in the code is already in the catalogue (makemessages, run on a
    copy of the code, would add nothing)."""
    for name in ("advocates", "rewards", "cms", "locale"):
        shutil.copytree(ROOT / name, tmp_path / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.mo"))
    shutil.copy(ROOT / "manage.py", tmp_path / "manage.py")
    result = subprocess.run(  # noqa: S603 - our own manage.py, fixed arguments
        [sys.executable, "manage.py", "makemessages", "-l", "ja", "--no-obsolete",
         "--no-location"], cwd=tmp_path, capture_output=True, text=True, timeout=300,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "cms.settings",
             "DJANGO_DEBUG": "1", "KANSHA_DATA_DIR": str(tmp_path / "var"),
             "PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    fresh = {e.key: e for e in po_entries(tmp_path / "locale/ja/LC_MESSAGES/django.po")}
    committed = {e.key for e in po_entries(PO)}
    new = [msgid for key, msgid in ((k, k[1]) for k in fresh) if key not in committed]
    assert not new, f"strings missing from the ja catalogue: {new[:10]} — {HOW}"
    unsure = [e.msgid for e in fresh.values() if not e.translated or "fuzzy" in e.flags]
    assert not unsure, f"strings without a checked ja translation: {unsure[:10]} — {HOW}"


def test_a_japanese_reward_says_200_yen_off():
    from rewards.models import RewardGrant

    grant = RewardGrant(reward_kind="discount", reward={
        "discount_type": "amount", "amount_off_minor": 200, "currency": "jpy"})
    assert grant.describe("ja") == "200円引き"
    percent = RewardGrant(reward_kind="discount", reward={
        "discount_type": "percent", "percent_off": 10, "currency": "jpy"})
    assert percent.describe("ja") == "10%オフ"
    with translation.override("ja"):
        assert grant.describe("en") == "¥200 off"  # the advocate's language, not the admin's


def _japanese_client(role: str) -> Client:
    user = user_in_role(role)
    profile = UserProfile.get_for_user(user)
    profile.preferred_language = "ja"
    profile.save()
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_the_queue_and_dashboard_speak_japanese():
    from tests.factories import OutreachFactory

    OutreachFactory()
    client = _japanese_client(SOCIAL_STAFF)
    queue = client.get(reverse("kansha_outreach:queue")).content.decode()
    for text in ("アウトリーチキュー", "ケア", "お礼", "選択したものを承認…", "却下"):
        assert text in queue, text
    for english in ("Approve selected", "Outreach queue", "Reject reason"):
        assert english not in queue, english
    home = client.get(reverse("wagtailadmin_home")).content.decode()
    assert "あなたのキュー" in home
    assert "ダッシュボード - Kansha" in home


@pytest.mark.django_db
def test_finance_reads_reports_and_money_in_japanese():
    client = _japanese_client(FINANCE)
    report = client.get(reverse("kansha_reports:liability")).content.decode()
    assert "負債" in report
    assert "XLSXをダウンロード" in report


def _admin_labels():
    """(where, text) for every name a Kansha admin list or form shows from its model: the
    model's names and the label of each column, filter and form field."""
    from wagtail.snippets.models import get_snippet_models

    for model in get_snippet_models():
        opts = model._meta
        if opts.app_label not in {"advocates", "rewards", "cms"}:
            continue
        yield opts.object_name, opts.verbose_name
        yield opts.object_name, opts.verbose_name_plural
        viewset = model.snippet_viewset
        columns = [c if isinstance(c, str) else getattr(c, "name", "")
                   for c in viewset.list_display or ()]
        filters = viewset.list_filter if isinstance(viewset.list_filter, list | tuple | dict) \
            else ()
        form_fields = viewset.get_edit_handler().get_form_options().get("fields", [])
        for name in {*columns, *filters, *form_fields}:
            try:
                field = opts.get_field(name)
            except Exception:  # noqa: S112 — a column computed by a method, not a field
                continue
            yield f"{opts.object_name}.{name}", getattr(field, "verbose_name", name)


@pytest.mark.django_db
def test_every_admin_list_and_form_names_its_model_and_fields_in_japanese():
    """Model and field names are the admin's headings, columns, filters and form labels; one
    left as a plain string shows in English on a Japanese screen ("Reward rules", "Stock")."""
    untranslated = []
    for where, text in _admin_labels():
        with translation.override("en"):
            english = str(text)
        with translation.override("ja"):
            japanese = str(text)
        if japanese == english:
            untranslated.append(f"{where}: {english!r}")
    assert not untranslated, (
        f"{len(untranslated)} admin names without Japanese, e.g. {untranslated[:8]}: mark them "
        f"(verbose_name=gettext_lazy(...)) and {HOW}")


@pytest.mark.django_db
def test_lists_and_wagtail_words_wagtail_leaves_in_english_read_japanese():
    client = _japanese_client(FINANCE)
    page = client.get(reverse("wagtailsnippets_rewards_redemption:list")).content.decode()
    title = page.split("<title>")[1].split("</title>")[0].strip()
    assert title == "利用 - Kansha"
    props = page.split('id="wagtail-sidebar-props"')[1].split(">", 1)[1].split("</script>")[0]
    # Wagtail's own Japanese catalogue lacks these; Kansha's supplies them (cms/wagtail_strings)
    assert '"label": "\\u30d8\\u30eb\\u30d7"' in props  # ヘルプ, as JSON writes it
    assert '"label": "Help"' not in props
    marketing = _japanese_client(MARKETING)
    add_rule = marketing.get(reverse("wagtailsnippets_rewards_rewardrule:add")).content.decode()
    assert "新規作成: 特典ルール" in add_rule
    assert "New: " not in add_rule
    home = marketing.get(reverse("wagtailadmin_home")).content.decode()
    assert "すべてのページを検索…" in home
    assert " Pages <span" not in home


JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


@pytest.mark.django_db
@pytest.mark.parametrize("model", ["rewardrule", "perk", "tier"])
def test_marketing_editors_explain_every_field_in_japanese(model):
    page = _japanese_client(MARKETING).get(
        reverse(f"wagtailsnippets_rewards_{model}:add")).content.decode()
    helps = [html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for _, text in re.findall(
        r'<(div|p) [^>]*class="[^"]*w-field__help[^"]*"[^>]*>(.*?)</\1>', page, re.S)]
    labels = [html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for text in re.findall(
        r'<label[^>]*for="id_[^"]*"[^>]*>(.*?)</label>', page, re.S)]
    assert helps
    english = [text for text in helps + labels
               if re.search("[A-Za-z]{3}", text) and not JAPANESE.search(text)]
    assert not english, f"English on the Japanese {model} editor: {english} — {HOW}"

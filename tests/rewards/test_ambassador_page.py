"""The public ambassador page lists tiers and perks from the catalog, in English and Japanese."""

from __future__ import annotations

import importlib
import re

import pytest
from django.apps import apps

from advocates.models import ConsentPage, OptOutPage
from cms.models import AmbassadorPage, HomePage
from rewards.models import Perk, Tier


@pytest.fixture
def pages(db):
    """The pages as cms/migrations/0005_ambassador_pages.py made them, with a catalog."""
    en = AmbassadorPage.objects.get(slug="ambassadors")
    ja = AmbassadorPage.objects.get(slug="ambassadors-ja")
    pin = Perk.objects.create(name="Enamel pin", name_ja="ピンバッジ", stock=3,
                              description="A little cup.", description_ja="小さなカップ。")
    Perk.objects.create(name="Secret perk", public=False)
    Perk.objects.create(name="Draft perk", live=False)
    gold = Tier.objects.create(name="Gold", name_ja="ゴールド", threshold=400, window_days=90,
                               badge="🥇")
    gold.perks.add(pin)
    gold.save()
    Tier.objects.create(name="Bronze", threshold=50, badge="🥉")
    return en, ja


def test_english_page_shows_tiers_perks_and_links(client, pages):
    html = client.get(pages[0].url).content.decode()
    assert "🥉 Bronze" in html
    assert "50 points in total" in html
    assert "400 points in the last 90 days" in html
    assert "Enamel pin" in html
    assert "3 left" in html
    assert "Secret perk" not in html
    assert "Draft perk" not in html
    assert "Stop all contact from us" in html
    assert f'href="{pages[0].opt_out_page.url}"' in html
    assert "Post about us" in html


def test_japanese_page_uses_japanese_names(client, pages):
    html = client.get(pages[1].url).content.decode()
    assert "ゴールド" in html
    assert "ピンバッジ" in html
    assert "400ポイント" in html
    assert "今後の連絡を停止する" in html
    assert "Enamel pin" not in html


def test_the_migration_made_both_pages_under_home_linked_to_their_language(db):
    home = HomePage.objects.get()
    pages = {p.language: p for p in AmbassadorPage.objects.live().child_of(home)}
    assert set(pages) == {"en", "ja"}
    for language, page in pages.items():
        assert page.consent_page.specific_class is ConsentPage
        assert page.consent_page.specific.language == language
        assert page.opt_out_page.specific.language == language
        assert page.opt_out_page.specific_class is OptOutPage


def test_the_migration_is_idempotent(db):
    migration = importlib.import_module("cms.migrations.0005_ambassador_pages")
    migration.forwards(apps, None)
    assert AmbassadorPage.objects.count() == 2
    home = HomePage.objects.get()
    assert home.get_children().count() == home.numchild  # the tree stays consistent


@pytest.mark.parametrize(("slug", "heading"), [("ambassadors", "How consent works"),
                                               ("ambassadors-ja", "投稿のご紹介への同意について")])
def test_the_consent_link_explains_consent_instead_of_answering_404(client, pages, slug,
                                                                    heading):
    html = client.get(AmbassadorPage.objects.get(slug=slug).url).content.decode()
    (consent_url,) = re.findall(r'href="(/consent[^"]*)"', html)
    page = client.get(consent_url)
    assert page.status_code == 200
    assert heading in page.content.decode()

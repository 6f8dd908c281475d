"""The public ambassador page lists tiers and perks from the catalog, in English and Japanese."""

from __future__ import annotations

import pytest

from advocates.models import OptOutPage
from cms.models import AmbassadorPage, HomePage
from rewards.models import Perk, Tier


@pytest.fixture
def pages(db):
    home = HomePage.objects.first()
    opt_out = OptOutPage.objects.filter(language="en").first() or home.add_child(
        instance=OptOutPage(title="Opt out", slug="opt-out"))
    en = home.add_child(instance=AmbassadorPage(
        title="Kansha Ambassadors", slug="ambassadors", language="en",
        how_to_join="<p>Post about us with @kanshacoffee.</p>", opt_out_page=opt_out))
    ja = home.add_child(instance=AmbassadorPage(
        title="カンシャ・アンバサダー", slug="ambassadors-ja", language="ja", opt_out_page=opt_out))
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

"""A reshare of a rewarded advocate's post says, in its own text, that they were rewarded.

The line is marketing's "reshare_pr" reply template (EN and JA). Where a reshare can carry no
text (the policy's `reshare_text` is ""), a rewarded advocate's post is not reshared at all:
routing proposes no reshare and delivery refuses one, asking the same
`PlatformPolicy.reshare_refusal` (docs/compliance.md).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from django.core.exceptions import ValidationError

from advocates import policies
from advocates.models import (
    ConsentRecord,
    Outreach,
    OutreachKind,
    OutreachStatus,
    ReplyTemplateVariant,
    SandboxPost,
)
from advocates.services import (
    advocate_reward_received,
    advocates_merge,
    consent_grant,
    outreach_approve,
)
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.factories import SocialIdentityFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

PRAISE = "Best flat white in town, thank you @kanshacoffee! ☕"
PRAISE_JA = "カンシャ珈琲のラテ、最高でした！また行きます @kanshacoffee"
LINE = "#ad @fan_r1 has received a reward from Kansha Coffee."
LINE_JA = "#PR @fan_r1さんにはKansha Coffeeから特典を提供しています。"


@pytest.fixture(autouse=True)
def _brand():
    brand_settings(reshare_requires_consent=False, brand_name="Kansha Coffee")


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sora")


def _rewarded(n: int = 1):
    """The author of item(n), to whom a reward was delivered."""
    return SocialIdentityFactory(
        platform="sandbox", platform_user_id=f"author-r{n}", handle=f"@fan_r{n}",
        advocate__reward_received_at=datetime(2026, 11, 1, tzinfo=UTC)).advocate


def _reshare(mention) -> Outreach:
    return Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)


def test_a_rewarded_authors_post_is_proposed_for_reshare_with_the_disclosure_line(
        staff, django_capture_on_commit_callbacks):
    _rewarded()
    (mention,) = ingest_and_detect([item(1, PRAISE)])

    reshare = _reshare(mention)
    assert reshare.proposed_text == LINE
    assert reshare.template_key == "reshare_pr/en"
    assert reshare.reasons[-1] == ("reshare: its author has received a reward: with a "
                                   "disclosure line")

    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=reshare.pk, user=staff)

    reshare.refresh_from_db()
    assert reshare.status == OutreachStatus.SENT
    assert SandboxPost.objects.get(kind="reshare").text == f"{LINE}\n\n{PRAISE}"


def test_a_japanese_post_gets_the_japanese_line_in_marketings_words():
    _rewarded()
    template_ja = ReplyTemplateVariant.objects.get(template__purpose="reshare_pr",
                                                   template__language="ja")
    assert template_ja.text == "#PR {handle}さんには{brand}から特典を提供しています。"

    (mention,) = ingest_and_detect([item(1, PRAISE_JA, language="ja")])
    assert (mention.route, mention.skip_reason) == ("thank", "")

    assert _reshare(mention).proposed_text == LINE_JA


def test_an_unrewarded_authors_reshare_carries_no_text(staff,
                                                       django_capture_on_commit_callbacks):
    (mention,) = ingest_and_detect([item(1, PRAISE)])

    reshare = _reshare(mention)
    assert reshare.proposed_text == ""
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=reshare.pk, user=staff)
    assert SandboxPost.objects.get(kind="reshare").text == PRAISE


def test_a_yes_to_a_consent_request_proposes_the_reshare_with_the_line():
    brand_settings(reshare_requires_consent=True)
    _rewarded()
    (mention,) = ingest_and_detect([item(1, PRAISE)])
    record = ConsentRecord.objects.get(mention=mention)

    consent_grant(record=record, method="page")

    assert _reshare(mention).proposed_text == LINE


@pytest.fixture
def no_text_reshares(monkeypatch):
    """The sandbox as a network whose reshares carry no text (a plain repost only)."""
    policy = dataclasses.replace(policies.SANDBOX, reshare_text="")
    monkeypatch.setitem(policies.POLICIES, "sandbox", policy)
    return policy


def test_where_a_reshare_carries_no_text_a_rewarded_authors_post_is_not_proposed(
        no_text_reshares):
    _rewarded(1)
    rewarded, unrewarded = ingest_and_detect([
        item(1, PRAISE), item(2, "Lovely cortado, thank you @kanshacoffee!")])

    assert not Outreach.objects.filter(mention=rewarded, kind=OutreachKind.RESHARE).exists()
    thanks = Outreach.objects.get(mention=rewarded, kind=OutreachKind.REPLY)
    assert thanks.reasons[-1] == (
        "no reshare: Sandbox reshares carry no text, and the author has received a reward: no "
        "reshare without a disclosure")
    assert _reshare(unrewarded).proposed_text == ""


def test_where_a_reshare_carries_no_text_delivery_refuses_a_rewarded_authors_reshare(
        no_text_reshares, staff, django_capture_on_commit_callbacks):
    """A reshare proposed before a reward reached its author: delivery asks the policy again
    and posts nothing."""
    (mention,) = ingest_and_detect([item(1, PRAISE)])
    reshare = _reshare(mention)
    advocate_reward_received(advocate_id=mention.author.advocate_id,
                             at=datetime(2026, 12, 1, tzinfo=UTC))

    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=reshare.pk, user=staff)

    reshare.refresh_from_db()
    assert reshare.status == OutreachStatus.FAILED
    assert "reshares carry no text, and the author has received a reward" in reshare.last_error
    assert not SandboxPost.objects.filter(kind="reshare").exists()


def test_a_merge_keeps_the_reward_so_the_survivors_reshares_disclose_it():
    absorbed = _rewarded(1)
    survivor = SocialIdentityFactory().advocate

    advocates_merge(survivor=survivor, absorbed=absorbed)

    survivor.refresh_from_db()
    assert survivor.reward_received_at == datetime(2026, 11, 1, tzinfo=UTC)


def test_staff_may_add_to_the_disclosure_line_but_not_drop_it(staff):
    _rewarded()
    (mention,) = ingest_and_detect([item(1, PRAISE)])
    reshare = _reshare(mention)

    for text in ("Love this!", "", "#ad"):
        with pytest.raises(ValidationError, match="keeps its disclosure line"):
            outreach_approve(outreach_id=reshare.pk, user=staff, final_text=text)
    reshare.refresh_from_db()
    assert reshare.status == OutreachStatus.PROPOSED

    approved = outreach_approve(outreach_id=reshare.pk, user=staff,
                                final_text=f"Our favourite post this week!\n{LINE}")
    assert approved.final_text == f"Our favourite post this week!\n{LINE}"

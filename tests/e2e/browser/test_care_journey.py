"""Care that closes, in a real browser (issue 14).

A complaint on X arrives by signed webhook; the real worker turns it into a care item. Hana
(Social staff) opens it from the queue's Conversation button, replies in public asking for a
DM; the customer's DM arrives by webhook and shows in the same conversation; Hana answers by
direct message and resolves the conversation as "Refunded". The fake X received the reply
and the DM, each once.
"""

from __future__ import annotations

import re

import pytest
import requests
from cryptography.fernet import Fernet
from playwright.sync_api import expect

from advocates import ratelimit
from advocates.models import Conversation, MessageKind, Outreach, OutreachKind, OutreachStatus
from advocates.services.platforms import brand_account_connect
from tests.advocates.routing_helpers import brand_settings
from tests.conftest import wait_for
from tests.fakes.x_server import BRAND, BRAND_ID, FakeX, dm_event, signed, tweet_event
from tests.roles import SOCIAL_STAFF

pytestmark = [pytest.mark.integration, pytest.mark.browser]

SECRET = "x-consumer-secret"
CUSTOMER_ID = "2244994945"
KEY = Fernet.generate_key().decode()
COMPLAINT = f"@{BRAND} my order was wrong and cold, terrible service. Charged twice too!"
ASK_FOR_DM = "So sorry! Please DM us your order number and we'll sort it out today."
ANSWER = "Thank you, order 4411 found: we refunded the second charge. A new latte is on us."


@pytest.fixture(autouse=True)
def _credentials_key(settings, monkeypatch):
    settings.KANSHA_CREDENTIALS_KEY = KEY
    monkeypatch.setenv("KANSHA_CREDENTIALS_KEY", KEY)  # the worker subprocess reads it


def _signed_post(url: str, payload: dict) -> None:
    body, signature = signed(payload, SECRET)
    response = requests.post(url, data=body, timeout=30, headers={
        "Content-Type": "application/json", "X-Twitter-Webhooks-Signature": signature})
    assert response.status_code == 200, response.text


def test_social_staff_answer_an_x_complaint_in_public_then_by_dm_and_resolve_it(
        journey, staff_user, celery_worker_process, live_server):
    staff_user(SOCIAL_STAFF, "hana", first_name="Hana", last_name="Mori")
    brand_settings()
    page = journey.page
    with FakeX() as fake:
        account = brand_account_connect(
            platform="x", name="brand", handle=f"@{BRAND}", platform_user_id=BRAND_ID,
            credentials={"consumer_secret": SECRET, "access_token": "access-1"},
            config={"base_url": fake.url})
        ratelimit.reset(account)
        webhook = f"{live_server.url}/webhooks/x/{account.pk}/"
        _signed_post(webhook, tweet_event("1870000000000000042", text=COMPLAINT))
        care = wait_for(lambda: Outreach.objects.filter(kind=OutreachKind.CARE).first(), 60)

        # The queue's care item opens its conversation.
        journey.login("hana")
        journey.goto("/admin/outreach/?tab=care")
        row = page.locator(f"#outreach-{care.pk}")
        expect(row).to_contain_text("terrible service")
        with page.expect_navigation():
            row.get_by_role("link", name="Conversation").click()
        thread = page.get_by_role("list", name="Conversation")
        expect(thread).to_contain_text(COMPLAINT)
        journey.step("conversation opened from the queue")

        # A public reply asking for a DM; the worker posts it on X.
        page.get_by_label("Reply", exact=True).fill(ASK_FOR_DM)
        page.get_by_label("Send as").select_option("public")
        with page.expect_navigation():
            page.get_by_role("button", name="Send reply").click()
        wait_for(lambda: Outreach.objects.filter(pk=care.pk, status=OutreachStatus.SENT)
                 .exists(), 60)
        assert [p["text"] for p in fake.posted] == [ASK_FOR_DM]
        assert fake.posted[0]["reply"] == {"in_reply_to_tweet_id": "1870000000000000042"}

        # The customer's DM arrives by webhook: the same conversation shows it.
        _signed_post(webhook, dm_event(42, sender=CUSTOMER_ID, text="Order 4411, thanks!"))
        wait_for(lambda: Conversation.objects.get(pk=care.conversation_id).messages
                 .filter(kind=MessageKind.DM_IN).exists(), 60)
        page.reload()
        expect(thread).to_contain_text("Order 4411, thanks!")
        expect(page.locator("[data-conversation-status]")).to_have_text("Open")

        # Hana answers by direct message (r focuses the reply box, Ctrl+Enter sends).
        page.keyboard.press("r")
        expect(page.get_by_label("Reply", exact=True)).to_be_focused()
        page.keyboard.type(ANSWER)
        page.get_by_label("Send as").select_option("dm")
        journey.step("answering by direct message")
        with page.expect_navigation():
            page.get_by_label("Reply", exact=True).press("Control+Enter")
        wait_for(lambda: fake.dms, 60)
        assert [(d["to"], d["text"]) for d in fake.dms] == [(CUSTOMER_ID, ANSWER)]
        page.reload()
        entries = thread.locator("li")
        expect(entries.nth(0)).to_contain_text("Public post")
        expect(entries.nth(1)).to_contain_text("Our public reply")
        expect(entries.nth(2)).to_contain_text("Direct message from them")
        expect(entries.nth(3)).to_contain_text("Our direct message")
        expect(entries.nth(3)).to_contain_text("Sent")

        # Resolved as "Refunded": the thread says so and the reply box is gone.
        page.get_by_label("Outcome").select_option("refunded")
        with page.expect_navigation():
            page.get_by_role("button", name="Resolve").click()
        expect(page.locator("[data-conversation-status]")).to_have_text("Resolved")
        expect(thread).to_contain_text("resolved: Refunded")
        expect(page.get_by_role("button", name="Send reply")).to_have_count(0)
        journey.step("resolved", docs="care-conversation")

    conversation = Conversation.objects.get()
    assert (conversation.status, conversation.outcome) == ("resolved", "refunded")
    assert re.search("Hana", conversation.resolved_by.get_full_name())

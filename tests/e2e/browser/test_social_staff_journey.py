"""Social staff's day, in a real browser: the outreach queue worked with the keyboard.

Mika signs in, sees her dashboard (care overdue, every tab's count), and works the queue: it
opens on Care; on the Thank-yous tab she edits and approves a thank-you (e, type, Esc, a; the
message stays in view), rejects a sarcastic "praise" the detector took at face value (r; the
dialog asks for a reason rather than picking one, then a note), back on Care picks up the
overdue complaint (Assign → To me), writes to that person and approves with Ctrl+Enter, then
watches the replies appear on the Sandbox timeline, delivered by the real Celery worker.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from advocates.models import (
    AdvocacyEvent,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SandboxPost,
)
from advocates.schemas import MentionIn
from advocates.services import mentions_ingest, outreach_propose
from tests.conftest import wait_for
from tests.roles import SOCIAL_STAFF

pytestmark = [pytest.mark.integration, pytest.mark.browser]

PRAISE = "Best cortado in town, thank you @kanshacoffee! The oat flat white made my morning."
# Mild sarcasm the detector reads as praise: the realistic case for a person to catch.
SARCASM = ("Wow @kanshacoffee, love how my latte came with a free side of cold. "
           "Amazing service as always")
COMPLAINT = ("@kanshacoffee my order has been wrong three times this week and nobody answers. "
             "Really disappointed.")

THANKS_ADDITION = " See you at the roastery on Saturday!"
CARE_REPLY = ("So sorry, Ren, three wrong orders is not OK. I've sent you a DM so we can put it "
              "right today. Mika")


def _mention(n: int, handle: str, name: str, text: str, *, minutes_ago: int) -> MentionIn:
    return MentionIn(
        platform="sandbox", external_id=f"journey-{n}", author_id=f"fan-{n}",
        author_handle=handle, author_name=name, text=text, kind="post", followers=120 * n,
        posted_at=timezone.now() - timedelta(minutes=minutes_ago),
        url=f"https://sandbox.example/{handle.lstrip('@')}/{n}")


def _seed_queue() -> tuple[Outreach, Outreach, Outreach]:
    """Mentions in through the real ingest; the worker detects and routes two of them."""
    mentions_ingest(items=[
        _mention(1, "@aiko", "Aiko Tanaka", PRAISE, minutes_ago=25),
        _mention(3, "@ren", "Ren Ito", COMPLAINT, minutes_ago=150),
    ], source="api")

    # The sarcastic one: proposed as a thank-you, as if the detector had missed the sarcasm
    # (proposed directly so the journey does not depend on the detector's current rules).
    mentions_ingest(items=[_mention(2, "@kenji", "Kenji Mori", SARCASM, minutes_ago=40)],
                    source="api", detect=False)
    sarcastic_mention = Mention.objects.select_related("author__advocate").get(
        external_id="journey-2")
    sarcastic = outreach_propose(
        kind=OutreachKind.REPLY, advocate=sarcastic_mention.author.advocate,
        identity=sarcastic_mention.author, platform="sandbox",
        dedupe_key=f"thank:{sarcastic_mention.pk}", mention=sarcastic_mention,
        text="Thank you so much, Kenji! We love having you with us.",
        reasons=["praise word 'love'", "praise phrase 'amazing service'",
                 "thank-you for praise"])

    thanks = wait_for(lambda: Outreach.objects.filter(
        mention__external_id="journey-1", kind=OutreachKind.REPLY).first(), timeout=60)
    care = wait_for(lambda: Outreach.objects.filter(
        mention__external_id="journey-3", kind=OutreachKind.CARE).first(), timeout=60)
    # Two hours on, nobody has picked the complaint up: its first-response SLA has passed.
    Outreach.objects.filter(pk=care.pk).update(
        created_at=timezone.now() - timedelta(hours=2),
        sla_due_at=timezone.now() - timedelta(minutes=30))
    return thanks, sarcastic, care


CURRENT = re.compile(r"(^|\s)is-current(\s|$)")


def _row(page, outreach: Outreach):
    return page.locator(f"#outreach-{outreach.pk}")


def _move_to(page, outreach: Outreach) -> None:
    """Press j or k until the outreach's row is the current one, checking every step."""
    ids = page.eval_on_selector_all("[data-queue-row]", "rows => rows.map(r => r.dataset.id)")
    target = ids.index(str(outreach.pk))
    current = page.eval_on_selector_all(
        "[data-queue-row]", "rows => rows.findIndex(r => r.classList.contains('is-current'))")
    assert current >= 0, "no row is marked current when the queue opens"
    while current != target:
        key = "j" if target > current else "k"
        page.keyboard.press(key)
        current += 1 if key == "j" else -1
        expect(page.locator("[data-queue-row]").nth(current)).to_have_class(CURRENT)
    expect(_row(page, outreach)).to_have_class(CURRENT)


def _message(page, text: str) -> None:
    # On the queue the messages move into the sticky bar above the rows.
    expect(page.locator("[data-queue-flash]")).to_contain_text(text)


def test_social_staff_work_the_queue_with_the_keyboard(journey, staff_user,
                                                       celery_worker_process):
    mika = staff_user(SOCIAL_STAFF, "mika", first_name="Mika", last_name="Sato")
    thanks, sarcastic, care = _seed_queue()
    page = journey.page

    # Sign in: the dashboard says what is waiting, the overdue complaint included.
    journey.login("mika")
    panel = page.get_by_role("region", name="Your queue")
    expect(panel.get_by_role("link", name="1 overdue")).to_be_visible()
    expect(panel.get_by_role("link", name="1 Care")).to_be_visible()
    journey.step("dashboard")

    # The queue opens on Care (the overdue complaint, its badge and reasons); the other tabs
    # show their counts and are one click away.
    page.get_by_role("link", name="Outreach queue").first.click()
    page.wait_for_url("**/admin/outreach/")
    rows = page.locator("[data-queue-row]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-id", str(care.pk))
    expect(_row(page, care).locator(".kq-sla")).to_have_text("Overdue")
    tabs = page.get_by_role("navigation", name="Kinds of work")
    expect(tabs.get_by_role("link", name=re.compile(r"^Care 1$"))).to_have_attribute(
        "aria-current", "page")
    expect(page.locator(".kq-help")).to_contain_text("Next item")
    journey.step("queue", docs="journey-queue")

    tabs.get_by_role("link", name=re.compile(r"^Thank-yous \d")).click()
    page.wait_for_url(re.compile(r"/admin/outreach/\?.*tab=thanks"))
    expect(_row(page, thanks).locator(".kq-reasons")).to_contain_text("thank-you for a praise")
    expect(_row(page, sarcastic)).to_have_count(1)

    # j/k to the thank-you, e to edit, type, Esc to leave the box, a to approve the edit.
    _move_to(page, thanks)
    page.keyboard.press("e")
    reply_box = page.locator(f"#reply-{thanks.pk}")
    expect(reply_box).to_be_focused()
    expect(reply_box).to_be_editable()
    page.keyboard.type(THANKS_ADDITION)
    page.keyboard.press("Escape")
    expect(reply_box).not_to_be_focused()
    journey.step("thank-you edited")
    with page.expect_navigation():
        page.keyboard.press("a")
    _message(page, f"Edited and approved #{thanks.pk}")
    expect(_row(page, thanks)).to_have_count(0)
    # The message sits in the sticky bar above the rows, so moving on keeps it in view.
    flash = page.locator("[data-queue-flash]")
    expect(flash).to_contain_text(f"Edited and approved #{thanks.pk}")
    for _ in range(3):
        page.keyboard.press("j")
    expect(flash).to_be_in_viewport()
    journey.step("thank-you approved")

    # r on the sarcastic one: the dialog opens with no reason picked, and says so in place
    # when Reject is pressed without one; then a reason and a note.
    _move_to(page, sarcastic)
    page.keyboard.press("r")
    dialog = page.get_by_role("dialog", name=f"Reject #{sarcastic.pk}")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("radio", name="Sarcasm")).to_be_focused()
    expect(dialog.get_by_role("radio", name="Sarcasm")).not_to_be_checked()
    dialog.get_by_role("button", name="Reject").click()
    expect(dialog.get_by_role("alert")).to_have_text("Pick a reason to reject.")
    expect(dialog).to_be_visible()
    dialog.get_by_role("radio", name="Sarcasm").check()
    dialog.get_by_role("textbox", name="Note").fill("“free side of cold”")
    journey.step("rejecting the sarcastic one")
    with page.expect_navigation():
        dialog.get_by_role("button", name="Reject").click()
    _message(page, f"Rejected #{sarcastic.pk} (Sarcasm: “free side of cold”)")
    expect(_row(page, sarcastic)).to_have_count(0)

    page.get_by_role("navigation", name="Kinds of work").get_by_role(
        "link", name=re.compile(r"^Care 1$")).click()
    page.wait_for_url(re.compile(r"/admin/outreach/\?.*tab=care"))

    # The overdue complaint: assign it to herself, write to the person, Ctrl+Enter to approve.
    _row(page, care).get_by_role("button", name="Assign").click()
    dialog = page.get_by_role("dialog", name=f"Assign #{care.pk}")
    with page.expect_navigation():
        dialog.get_by_role("button", name="To me").click()
    _message(page, f"Assigned #{care.pk} to Mika Sato")
    care_row = _row(page, care)
    expect(care_row.locator(".kq-assignee")).to_contain_text("Mika Sato")
    care_row.get_by_role("button", name="Edit").click()
    care_box = page.locator(f"#reply-{care.pk}")
    expect(care_box).to_be_focused()
    care_box.fill(CARE_REPLY)
    journey.step("care reply written")
    with page.expect_navigation():
        page.keyboard.press("Control+Enter")
    _message(page, f"Edited and approved #{care.pk}")
    expect(page.locator("[data-queue-row]")).to_have_count(0)
    # What is left is the other proposal about Aiko's post (a reshare or consent request).
    page.get_by_role("navigation", name="Kinds of work").get_by_role(
        "link", name=re.compile(r"^All 1$")).click()
    expect(page.locator("[data-queue-row]")).to_have_count(1)
    expect(page.locator("[data-queue-row]")).to_contain_text("Best cortado in town")
    journey.step("queue after the decisions")

    # The Sandbox timeline shows the replies once the worker has delivered them.
    page.get_by_role("link", name="Sandbox timeline").first.click()
    page.wait_for_url("**/admin/sandbox/timeline/")
    timeline = page.locator(".kq-timeline")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        text = timeline.inner_text() if timeline.count() else ""
        if THANKS_ADDITION.strip() in text and CARE_REPLY[:40] in text:
            break
        time.sleep(1)
        page.reload()
    expect(timeline).to_contain_text(THANKS_ADDITION.strip())
    expect(timeline).to_contain_text(CARE_REPLY[:40])
    journey.step("sandbox timeline", docs="journey-sandbox-timeline")

    # What the screens said is what happened.
    thanks.refresh_from_db()
    sarcastic.refresh_from_db()
    care.refresh_from_db()
    assert thanks.status == OutreachStatus.SENT
    assert thanks.final_text.endswith(THANKS_ADDITION.strip())
    assert thanks.decided_by == mika
    assert sarcastic.status == OutreachStatus.REJECTED
    assert sarcastic.reject_reason == "Sarcasm: “free side of cold”"
    assert (care.status, care.assignee, care.final_text) == (OutreachStatus.SENT, mika,
                                                            CARE_REPLY)
    assert SandboxPost.objects.filter(idempotency_key=thanks.idempotency_key,
                                      kind="reply").count() == 1
    assert AdvocacyEvent.objects.filter(advocate=thanks.advocate).exists()
    assert not SandboxPost.objects.filter(idempotency_key=sarcastic.idempotency_key).exists()

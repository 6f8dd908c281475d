"""The outreach life cycle: allowed transitions happen and are logged; others are refused."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from advocates.models import (
    AdvocacyEvent,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SandboxPost,
)
from advocates.services import (
    OutreachTransitionError,
    advocate_opt_out,
    outreach_approve,
    outreach_assign,
    outreach_bulk_approve,
    outreach_bulk_reject,
    outreach_reject,
    outreach_retry,
    outreach_snooze,
    outreach_unsnooze_due,
)
from tests.advocates.outreach_helpers import (
    actions,
    default_data,  # noqa: F401
    propose,
)
from tests.factories import MentionFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sora", password="x")


def test_a_proposal_is_logged_and_a_second_with_the_same_key_is_ignored():
    mention = MentionFactory()
    first = propose(mention=mention)
    again = propose(mention=mention, text="other words")

    assert first.status == OutreachStatus.PROPOSED
    assert again is None
    assert Outreach.objects.count() == 1
    assert actions(first) == ["proposed"]
    assert first.reasons == ["praise word 'best'", "thank-you for praise"]


def test_nothing_is_proposed_to_an_advocate_who_opted_out():
    mention = MentionFactory()
    advocate_opt_out(advocate=mention.author.advocate, source="staff")
    assert propose(mention=mention) is None


def test_proposals_need_text_when_they_send_words():
    with pytest.raises(ValidationError, match="needs text"):
        propose(text="  ")
    assert Outreach.objects.count() == 0


def test_approve_records_who_and_when_and_enqueues_delivery_after_commit(
        staff, django_capture_on_commit_callbacks):
    outreach = propose()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        approved = outreach_approve(outreach_id=outreach.pk, user=staff)

    assert approved.status == OutreachStatus.APPROVED
    assert approved.decided_by == staff
    assert approved.decided_at is not None
    assert approved.final_text == "Thank you, Aiko!"
    assert len(callbacks) == 1  # the delivery task, only once the approval is committed
    assert SandboxPost.objects.count() == 0


def test_edit_and_approve_sends_the_edited_words(staff, django_capture_on_commit_callbacks):
    outreach = propose()

    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=outreach.pk, user=staff,
                         final_text="Thanks Aiko, see you Friday!")

    outreach.refresh_from_db()
    assert outreach.status == OutreachStatus.SENT
    assert SandboxPost.objects.get().text == "Thanks Aiko, see you Friday!"
    assert outreach.proposed_text == "Thank you, Aiko!"
    approved = outreach.log.get(action="approved")
    assert approved.detail == {"edited": True, "final_text": "Thanks Aiko, see you Friday!"}
    assert approved.actor == staff


def test_approving_with_empty_text_changes_nothing(staff):
    outreach = propose()
    with pytest.raises(ValidationError, match="cannot be empty"):
        outreach_approve(outreach_id=outreach.pk, user=staff, final_text="   ")
    outreach.refresh_from_db()
    assert outreach.status == OutreachStatus.PROPOSED
    assert actions(outreach) == ["proposed"]


def test_approved_thank_you_is_posted_once_and_recognised(staff,
                                                           django_capture_on_commit_callbacks):
    outreach = propose()
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=outreach.pk, user=staff)

    outreach.refresh_from_db()
    post = SandboxPost.objects.get()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 1)
    assert outreach.platform_result_id == post.external_id
    assert post.idempotency_key == str(outreach.idempotency_key)
    assert post.in_reply_to == outreach.mention.external_id
    event = AdvocacyEvent.objects.get()
    assert (event.kind, event.dedupe_key, event.advocate_id) == (
        "praise", f"outreach:{outreach.pk}", outreach.advocate_id)
    assert actions(outreach) == ["proposed", "approved", "attempt"]


@pytest.mark.parametrize(
    ("setup", "attempt", "message"),
    [
        ("reject", lambda o, u: outreach_approve(outreach_id=o.pk, user=u), "it is rejected"),
        ("reject", lambda o, u: outreach_snooze(
            outreach_id=o.pk, user=u, until=timezone.now() + timedelta(hours=1)),
         "it is rejected"),
        ("approve", lambda o, u: outreach_reject(outreach_id=o.pk, user=u, reason="no"),
         "it is approved"),
        ("approve", lambda o, u: outreach_approve(outreach_id=o.pk, user=u), "it is approved"),
        ("none", lambda o, u: outreach_retry(outreach_id=o.pk, user=u), "it is proposed"),
    ],
)
def test_refused_transitions_say_what_and_why_and_change_nothing(staff, setup, attempt,
                                                                  message):
    outreach = propose()
    if setup == "reject":
        outreach_reject(outreach_id=outreach.pk, user=staff, reason="off-brand")
    elif setup == "approve":
        outreach_approve(outreach_id=outreach.pk, user=staff)
    before = Outreach.objects.filter(pk=outreach.pk).values().get()
    log_count = outreach.log.count()

    with pytest.raises(OutreachTransitionError, match=message) as excinfo:
        attempt(outreach, staff)

    assert f"#{outreach.pk}" in str(excinfo.value)
    assert Outreach.objects.filter(pk=outreach.pk).values().get() == before
    assert outreach.log.count() == log_count


def test_reject_needs_a_reason_and_keeps_it(staff):
    outreach = propose()
    with pytest.raises(ValidationError):
        outreach_reject(outreach_id=outreach.pk, user=staff, reason=" ")
    rejected = outreach_reject(outreach_id=outreach.pk, user=staff, reason="Sarcastic")
    assert (rejected.status, rejected.reject_reason) == (OutreachStatus.REJECTED, "Sarcastic")
    assert rejected.log.get(action="rejected").detail == {"reason": "Sarcastic"}


def test_snoozed_outreach_comes_back_when_due_and_can_be_approved_directly(staff):
    later, sooner = propose(), propose()
    until = timezone.now() + timedelta(hours=2)
    outreach_snooze(outreach_id=later.pk, user=staff, until=until)
    outreach_snooze(outreach_id=sooner.pk, user=staff, until=until)

    assert outreach_unsnooze_due() == 0
    assert outreach_unsnooze_due(now=until + timedelta(seconds=1)) == 2
    later.refresh_from_db()
    assert (later.status, later.snoozed_until) == (OutreachStatus.PROPOSED, None)
    assert actions(later) == ["proposed", "snoozed", "unsnoozed"]

    outreach_snooze(outreach_id=sooner.pk, user=staff, until=until)
    assert outreach_approve(outreach_id=sooner.pk, user=staff).status == OutreachStatus.APPROVED


def test_snooze_must_be_in_the_future(staff):
    outreach = propose()
    with pytest.raises(ValidationError, match="future"):
        outreach_snooze(outreach_id=outreach.pk, user=staff,
                        until=timezone.now() - timedelta(minutes=1))


def test_assign_and_unassign_are_logged(staff, django_user_model):
    other = django_user_model.objects.create_user("ren")
    outreach = propose()
    assert outreach_assign(outreach_id=outreach.pk, user=staff, assignee=other).assignee == other
    assert outreach_assign(outreach_id=outreach.pk, user=staff, assignee=None).assignee is None
    assert actions(outreach) == ["proposed", "assigned", "assigned"]


def test_retry_sends_a_failed_outreach_again(staff, django_capture_on_commit_callbacks):
    outreach = propose()
    Outreach.objects.filter(pk=outreach.pk).update(status=OutreachStatus.FAILED, attempts=5,
                                                   last_error="503 Service Unavailable")

    with django_capture_on_commit_callbacks(execute=True):
        outreach_retry(outreach_id=outreach.pk, user=staff)

    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 1)
    assert "retried" in actions(outreach)


def test_bulk_approve_and_reject_skip_what_cannot_change(staff):
    a, b, c = propose(), propose(), propose()
    outreach_reject(outreach_id=b.pk, user=staff, reason="spam")

    result = outreach_bulk_approve(outreach_ids=[a.pk, b.pk, 999_999], user=staff)

    assert result.done == [a.pk]
    assert "it is rejected" in result.skipped[b.pk]
    assert "does not exist" in result.skipped[999_999]
    rejected = outreach_bulk_reject(outreach_ids=[a.pk, c.pk], user=staff, reason="duplicate")
    assert rejected.done == [c.pk]
    assert "it is approved" in rejected.skipped[a.pk]


def test_opting_out_rejects_everything_waiting(staff):
    mention = MentionFactory()
    reply = propose(mention=mention)
    care = propose(kind=OutreachKind.CARE, mention=mention, text="Sorry!")
    outreach_approve(outreach_id=care.pk, user=staff)

    advocate_opt_out(advocate=mention.author.advocate, source="staff", user=staff)

    for outreach in (reply, care):
        outreach.refresh_from_db()
        assert (outreach.status, outreach.reject_reason) == (OutreachStatus.REJECTED,
                                                             "opted out")

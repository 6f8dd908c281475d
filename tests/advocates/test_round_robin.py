"""Round-robin assignment among staff marked on shift."""

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates.models import CareShift
from advocates.services.conversations import (
    care_shift_set,
    conversation_assign_round_robin,
)
from advocates.services.threads import conversation_open_or_join
from tests.factories import SocialIdentityFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


def _conversation():
    identity = SocialIdentityFactory()
    return conversation_open_or_join(advocate_id=identity.advocate_id, identity_id=identity.pk,
                                     platform=identity.platform, now=timezone.now())


def test_conversations_go_in_turn_to_staff_on_shift_only():
    ann, ben, cai = (user_in_role(SOCIAL_STAFF, username=n) for n in ("ann", "ben", "cai"))
    care_shift_set(user=ann, on_shift=True)
    care_shift_set(user=ben, on_shift=True)
    care_shift_set(user=cai, on_shift=False)

    given = [conversation_assign_round_robin(conversation_id=_conversation().pk, user=cai)
             .assignee for _ in range(4)]

    assert [u.username for u in given] == ["ann", "ben", "ann", "ben"]
    assert CareShift.objects.get(user=cai).last_assigned_at is None


def test_someone_back_on_shift_is_next_and_nobody_on_shift_is_refused():
    ann, ben = (user_in_role(SOCIAL_STAFF, username=n) for n in ("ann2", "ben2"))
    care_shift_set(user=ann, on_shift=True)
    conversation_assign_round_robin(conversation_id=_conversation().pk, user=ann)
    care_shift_set(user=ben, on_shift=True)  # never given one: first in line
    assert conversation_assign_round_robin(conversation_id=_conversation().pk,
                                           user=ann).assignee == ben

    care_shift_set(user=ann, on_shift=False)
    care_shift_set(user=ben, on_shift=False)
    with pytest.raises(ValidationError, match="nobody is on shift"):
        conversation_assign_round_robin(conversation_id=_conversation().pk, user=ann)


def test_staff_go_on_shift_and_assign_next_from_the_admin():
    ann = user_in_role(SOCIAL_STAFF, username="ann3")
    client = Client()
    client.force_login(ann)
    inbox = reverse("kansha_conversations:inbox")
    assert "Go on shift" in client.get(inbox).content.decode()

    client.post(reverse("kansha_conversations:shift"), {"on_shift": "on"})
    assert CareShift.objects.get(user=ann).on_shift
    assert "Go off shift" in client.get(inbox).content.decode()

    conversation = _conversation()
    page = client.get(reverse("kansha_conversations:detail", args=[conversation.pk]))
    assert 'value="next"' in page.content.decode()
    client.post(reverse("kansha_conversations:assign", args=[conversation.pk]),
                {"assignee": "next"})
    conversation.refresh_from_db()
    assert conversation.assignee == ann

    client.post(reverse("kansha_conversations:shift"), {})
    assert not CareShift.objects.get(user=ann).on_shift
    other = _conversation()
    response = client.post(reverse("kansha_conversations:assign", args=[other.pk]),
                           {"assignee": "next"}, follow=True)
    assert "nobody is on shift" in response.content.decode()

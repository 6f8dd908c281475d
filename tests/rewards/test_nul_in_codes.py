"""NUL in a redemption code or an order reference (issue 17): PostgreSQL text cannot hold
one, so it must be refused with a clear message before any query, never a 500.

The redemption API and `redeem_code` are covered by BAD_REDEMPTIONS in
test_money_validation.py; here: the JSON escape a till actually sends, an unknown code, and
the admin's boxes where staff type a code or an order reference (list searches and filters).
"""

import json

import pytest
from django.test import Client

from advocates.services import ingest_token_issue
from rewards.models import Redemption
from tests.roles import FINANCE, user_in_role

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("field", "value", "message"), [
    ("code", "KAN-\u0000-2345", "The code contains a NUL character"),
    ("code", "\u0000\u0000\u0000\u0000", "The code contains a NUL character"),
    ("order_ref", "POS-\u0000", "The order reference contains a NUL character"),
])
def test_the_redemption_api_answers_a_nul_with_400_and_says_which_field(client, field, value,
                                                                         message):
    _, secret = ingest_token_issue(name="till", scopes=["redeem"])
    body = {"code": "KAN-NOPE-2345", "order_amount_minor": 4200, "currency": "jpy",
            "order_ref": "POS-1", field: value}
    raw = json.dumps(body)  # as a till sends it: the NUL escaped as \u0000
    assert "\\u0000" in raw
    response = client.post("/api/v1/rewards/redemptions", raw, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 400, response.content
    assert message in response.json()["detail"]
    assert not Redemption.objects.exists()


@pytest.fixture
def finance_client():
    client = Client()
    client.force_login(user_in_role(FINANCE))
    return client


@pytest.mark.parametrize("url", [
    "/admin/snippets/rewards/discountcode/?q=KAN-%00-2345",
    "/admin/snippets/rewards/redemption/?q=POS-%00",
    "/admin/snippets/rewards/redemption/?source=%00&currency=%00",
    "/admin/snippets/rewards/redemptionreversal/?q=%00",
])
def test_admin_searches_for_a_code_or_order_with_a_nul_do_not_fail(finance_client, url):
    response = finance_client.get(url)
    assert response.status_code == 200

"""Security: every Kansha admin URL and API URL × every role, against an explicit table.

URLs are enumerated from the resolver (everything under /admin/ that Kansha's apps register:
the queue, the timeline, privacy actions, snippets of `advocates` and `rewards`, settings), so a
new admin page without a line in EXPECTED fails here until someone decides who may see it.

Outcomes: "ok" (2xx, or a redirect that is not a denial), "deny" (403, or Wagtail's denial:
a redirect to the dashboard), "login" (a redirect to the sign-in page), or an exact status for
the API (tokens only: a staff session must never authenticate the ingest API).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from django.apps import apps
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from advocates.models import Conversation, DeadLetter, IngestToken, ReplyTemplate, Suppression
from rewards.models import ReconciliationItem, ReconciliationRun, RewardGrant, RewardRule
from tests.factories import OutreachFactory
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, STORE_STAFF, user_in_role

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", SOCIAL_STAFF, MARKETING, FINANCE, STORE_STAFF, "superuser")
S, M, F, ST, SU = SOCIAL_STAFF, MARKETING, FINANCE, STORE_STAFF, "superuser"

# Who may open each snippet model's admin views. "read": list, inspect (view perm);
# "change": add, edit, copy, and the history/usage pages (Wagtail shows those to editors);
# "delete": delete. Superusers may do everything.
SNIPPETS: dict[str, dict[str, set[str]]] = {
    "advocates.mention": {"read": {S, SU}, "change": {SU}, "delete": {SU}},
    # Marketing and finance open profiles for manual points adjustments (issue 15).
    "advocates.advocate": {"read": {S, M, F, SU}, "change": {SU}, "delete": {SU}},
    "advocates.socialidentity": {"read": {S, SU}, "change": {SU}, "delete": {SU}},
    # API secrets and platform credentials: admins only (marketing sees account health).
    "advocates.ingesttoken": {"read": {SU}, "change": {SU}, "delete": {SU}},
    "advocates.brandaccount": {"read": {M, SU}, "change": {SU}, "delete": {SU}},
    # Marketing writes templates but retires them by unpublishing, never deletes history.
    "advocates.replytemplate": {"read": {M, SU}, "change": {M, SU}, "delete": {SU}},
    # Rewards (issue 5): marketing runs the programme; finance reads money.
    # Finance reads tiers since it approves their thresholds and perks (issue 16).
    "rewards.tier": {"read": {M, F, SU}, "change": {M, SU}, "delete": {M, SU}},
    # Finance may read the rules and perks behind the money (read-only).
    "rewards.rewardrule": {"read": {M, F, SU}, "change": {M, SU}, "delete": {SU}},
    "rewards.perk": {"read": {M, F, SU}, "change": {M, SU}, "delete": {SU}},
    # Social staff see grants (they deliver the reward messages from the queue). Grants are
    # read-only for everyone, superusers too: they move only through approve/revoke
    # (kansha_rewards_grant_confirm, finance), so no edit, history or usage view answers.
    "rewards.rewardgrant": {"read": {S, M, F, SU}, "change": set(), "delete": set()},
    "rewards.redemption": {"read": {F, SU}, "change": {SU}, "delete": {SU}},
    # Refunds and disputes: appended by Stripe's events, read-only for everyone.
    "rewards.redemptionreversal": {"read": {F, SU}, "change": set(), "delete": set()},
    "rewards.discountcode": {"read": {F, SU}, "change": {SU}, "delete": {SU}},
    "rewards.stripeevent": {"read": {F, SU}, "change": {SU}, "delete": {SU}},
    "rewards.pointsentry": {"read": {F, SU}, "change": {SU}, "delete": {SU}},  # the ledger
    "rewards.perkfulfilment": {"read": {M, SU}, "change": {M, SU}, "delete": {SU}},
    "rewards.fraudflag": {"read": {M, F, SU}, "change": {SU}, "delete": {SU}},
    # Dual control (issue 16): marketing asks for points adjustments, finance decides them
    # (kansha_rewards_change_confirm); points settings changes come from the settings form.
    # Neither is edited or deleted by anyone.
    "rewards.pointsadjustment": {"read": {M, F, SU}, "change": {M, SU}, "delete": set()},
    "rewards.pointssettingschange": {"read": {M, F, SU}, "change": set(), "delete": set()},
    # Dead letters (issue 17): operators (admins) fix the payload; nobody deletes one.
    "advocates.deadletter": {"read": {SU}, "change": {SU}, "delete": set()},
    # Suppressed accounts of erased people (issue 13): admins list them and lift one through
    # kansha_suppression_lift; nobody edits or deletes the record of an objection.
    "advocates.suppression": {"read": {SU}, "change": set(), "delete": set()},
}
ACTION_CLASS = {"list": "read", "list_results": "read", "inspect": "read",
                "add": "change", "edit": "change", "copy": "change", "history": "change",
                "history_results": "change", "usage": "change", "delete": "delete"}

# Kansha's own admin pages (GET), by URL name.
PAGES: dict[str, set[str]] = {
    "kansha_detector:models": {M, SU},
    "kansha_outreach:queue": {S, SU},
    "kansha_outreach:history": {S, SU},
    "kansha_conversations:inbox": {S, SU},
    "kansha_conversations:detail": {S, SU},
    "kansha_sandbox_timeline": {S, M, SU},
    "kansha_advocate_export": {SU},
    "kansha_advocate_erase": {SU},
    # Opting someone out on their behalf is a queue decision; merging is for admins.
    "kansha_advocate_opt_out": {S, SU},
    "kansha_advocate_merge": {SU},
    "kansha_merge_suggestions": {SU},
    # The profile (issue 15): whoever sees advocates; codes masked unless the role sees codes.
    "kansha_advocate_profile": {S, M, F, SU},
    # The till (issue 15): store staff, who see nothing else, and finance.
    "kansha_till": {ST, F, SU},
    # Reports (rewards): finance and marketing read them (the view_reports permission).
    "kansha_reports:ambassador": {M, F, SU},
    "kansha_reports:ambassador_results": {M, F, SU},
    "kansha_reports:redemptions": {M, F, SU},
    "kansha_reports:redemptions_results": {M, F, SU},
    "kansha_reports:ledger": {M, F, SU},
    "kansha_reports:ledger_results": {M, F, SU},
    "kansha_reports:liability": {M, F, SU},
    "kansha_reports:liability_results": {M, F, SU},
    # Reconciliation with Stripe: finance.
    "kansha_reports:reconciliation": {F, SU},
    "kansha_reports:reconciliation_results": {F, SU},
    "kansha_reports:reconciliation_item": {F, SU},
    # API tokens are admins' (like the token list itself).
    "kansha_api_token_revoke": {SU},
    "kansha_deadletter_replay": {SU},
    "kansha_deadletter_discard": {SU},
    "kansha_suppression_lift": {SU},
}
# Pages and actions whose id is not an outreach item's: the object each one takes.
OBJECT_FOR: dict[str, str] = {
    "kansha_api_token_revoke": "advocates.ingesttoken",
    "kansha_deadletter_replay": "advocates.deadletter",
    "kansha_deadletter_discard": "advocates.deadletter",
    "kansha_suppression_lift": "advocates.suppression",
    "kansha_reports:reconciliation_item": "rewards.reconciliationitem",
    **{f"kansha_conversations:{name}": "advocates.conversation" for name in (
        "detail", "reply", "note", "assign", "status", "resolve", "tags", "snooze")},
}
# Kansha's own admin actions (POST only), by URL name: who may act.
ACTIONS: dict[str, set[str]] = {
    "kansha_outreach:approve": {S, SU},
    "kansha_outreach:reject": {S, SU},
    "kansha_outreach:snooze": {S, SU},
    "kansha_outreach:assign": {S, SU},
    "kansha_outreach:retry": {S, SU},
    "kansha_outreach:wrong_call": {S, SU},
    **{f"kansha_detector:{name}": {M, SU} for name in ("retrain", "activate", "rollback")},
    "kansha_outreach:bulk": {S, SU},
    **{f"kansha_conversations:{name}": {S, SU} for name in (
        "reply", "note", "assign", "status", "resolve", "tags", "snooze")},
    "kansha_conversations:shift": {S, SU},  # on / off shift for round-robin
    "kansha_advocate_erase": {SU},
    "kansha_advocate_opt_out": {S, SU},
    "kansha_advocate_merge": {SU},
    "kansha_advocate_unmerge": {SU},
    "kansha_merge_suggestion_dismiss": {SU},
    "kansha_api_token_revoke": {SU},
    "kansha_deadletter_replay": {SU},
    "kansha_deadletter_discard": {SU},
    "kansha_suppression_lift": {SU},
}
SETTINGS: dict[str, set[str]] = {
    "advocates.detectorsettings": {M, SU},
    "rewards.rewardssettings": {M, SU},
}

# The API and public endpoints: the same answer whoever is signed in to the admin.
API = [
    ("post", "/api/v1/mentions", {"mentions": []}, 401),
    ("post", "/api/v1/rewards/redemptions", {}, 401),
    ("get", "/api/v1/rewards/reports/redemptions?from=2026-11-01&to=2026-11-30", None, 401),
    ("get", "/api/v1/openapi.json", None, 200),
    ("post", "/stripe/webhook/", {"id": "evt_x"}, 400),  # no signature
    ("get", "/me/not-a-signed-token/", None, 404),  # the advocate's own page
]


def _walk(resolver, prefix="", namespace=""):
    for p in resolver.url_patterns:
        if isinstance(p, URLResolver):
            ns = namespace + (f"{p.namespace}:" if p.namespace else "")
            yield from _walk(p, prefix + str(p.pattern), ns)
        elif isinstance(p, URLPattern):
            yield prefix + str(p.pattern), namespace + (p.name or "")


@dataclass
class Case:
    url: str
    allowed: set[str]
    method: str = "get"


def _cases(objects: dict[str, int]) -> tuple[list[Case], list[str]]:
    """(cases, unknown URL names) for every Kansha admin URL the resolver knows."""
    cases, unknown = [], []
    for route, name in _walk(get_resolver()):
        if not route.startswith("admin/"):
            continue
        m = re.match(r"wagtailsnippets_(advocates|rewards)_(\w+):(\w+)$", name)
        if m:
            label = f"{m[1]}.{m[2]}"
            action = m[3]
            if label not in SNIPPETS:
                unknown.append(name)
                continue
            if action in ACTION_CLASS:
                allowed = SNIPPETS[label][ACTION_CLASS[action]]
            else:
                continue  # revisions, previews, locking: covered by their owners' tests
            if "<int:pk>" in route:
                if label not in objects:
                    continue
                route = route.replace("<int:pk>", str(objects[label]))
            if "<" in route or "(?P" in route:
                continue
            cases.append(Case("/" + route, allowed))
        elif name in PAGES:
            route = re.sub(r"<int:\w+>", str(objects[OBJECT_FOR.get(name, "advocates.outreach")]),
                           route)
            if name.startswith("kansha_advocate_"):
                route = re.sub(r"/\d+/", f"/{objects['advocates.advocate']}/", route)
            route = route.replace("<str:action>", "approve")
            cases.append(Case("/" + route, PAGES[name]))
        if name in ACTIONS:
            route = re.sub(r"<int:\w+>", str(objects[OBJECT_FOR.get(name, "advocates.outreach")]),
                           route)
            if name.startswith("kansha_advocate_"):
                route = re.sub(r"/\d+/", f"/{objects['advocates.advocate']}/", route)
            cases.append(Case("/" + route, ACTIONS[name], "post"))
        elif name in ("kansha_rewards_grant_confirm", "kansha_rewards_change_confirm"):
            continue  # take an id and an action; covered by the rewards tests
        elif name.startswith("kansha") and name not in PAGES:
            unknown.append(name)
    return cases, unknown


def _objects() -> dict[str, int]:
    outreach = OutreachFactory()
    token, _ = IngestToken.objects.create(name="matrix", prefix="abc", key_hash="0" * 64), None
    objects = {
        "advocates.outreach": outreach.pk,
        "advocates.advocate": outreach.advocate_id,
        "advocates.mention": outreach.mention_id,
        "advocates.socialidentity": outreach.identity_id,
        "advocates.ingesttoken": token.pk,
        "advocates.conversation": Conversation.objects.create(
            advocate_id=outreach.advocate_id, identity_id=outreach.identity_id,
            platform=outreach.platform).pk,
        "advocates.deadletter": DeadLetter.objects.create(
            task="detect", key=str(outreach.mention_id),
            payload={"mention_id": outreach.mention_id}, error="matrix").pk,
        "advocates.suppression": Suppression.objects.create(
            key=Suppression.key_for(platform="sandbox", platform_user_id="matrix"),
            platform="sandbox").pk,
    }
    template = ReplyTemplate.objects.first()
    if template:
        objects["advocates.replytemplate"] = template.pk
    run = ReconciliationRun.objects.create(date_from="2026-11-01", date_to="2026-11-30",
                                           trigger="matrix", status="done")
    objects["rewards.reconciliationitem"] = ReconciliationItem.objects.create(
        run=run, kind="missing_ours", object_type="invoice", stripe_id="in_matrix").pk
    rule = RewardRule.objects.create(name="matrix", percent_off=10)
    objects["rewards.rewardgrant"] = RewardGrant.objects.create(
        advocate_id=outreach.advocate_id, rule=rule, period_key="matrix", reward={},
        reward_kind="discount", currency="jpy").pk
    return objects


def _outcome(response) -> str:
    chain = [url for url, _ in getattr(response, "redirect_chain", [])]
    if any("/login/" in url for url in chain):
        return "login"
    if chain and response.request["PATH_INFO"] == "/admin/":
        return "deny"  # Wagtail's permission_denied: back to the dashboard with a message
    if response.status_code == 403:
        return "deny"
    if response.status_code in (301, 302):
        location = response["Location"]
        if "/login/" in location:
            return "login"
        if location.rstrip("/").endswith("/admin") or location == "/admin/":
            return "deny"  # Wagtail's permission_denied: back to the dashboard
        return "ok"
    if 200 <= response.status_code < 300:
        return "ok"
    return str(response.status_code)


def _client(role: str) -> Client:
    client = Client()
    if role == "superuser":
        from django.contrib.auth import get_user_model

        client.force_login(get_user_model().objects.create_superuser(
            "root", "root@example.com", "pw-for-tests-only"))
    elif role != "anonymous":
        client.force_login(user_in_role(role))
    return client


@pytest.mark.parametrize("role", ROLES)
def test_admin_url_matrix(role):
    objects = _objects()
    cases, unknown = _cases(objects)
    assert not unknown, f"admin URLs with no expectation in this table: {unknown}"
    assert len(cases) > 30  # the enumeration found the snippets, queue and settings
    client = _client(role)
    wrong = []
    for case in cases:
        expected = "login" if role == "anonymous" else ("ok" if role in case.allowed else "deny")
        got = _outcome(getattr(client, case.method)(case.url, follow=case.method == "get"))
        if case.method == "post" and expected == "ok" and got not in ("deny", "login"):
            continue  # allowed to act: any answer but a denial (the form may be incomplete)
        if got != expected:
            wrong.append(f"{case.url}: expected {expected}, got {got}")
    assert not wrong, f"{role}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(("label", "role"), [(label, role) for label in SETTINGS
                                              for role in ROLES])
def test_settings_matrix(label, role):
    apps.get_model(label)
    response = _client(role).get(f"/admin/settings/{label.replace('.', '/')}/", follow=True)
    expected = "login" if role == "anonymous" else ("ok" if role in SETTINGS[label] else "deny")
    assert _outcome(response) == expected


@pytest.mark.parametrize("role", ROLES)
def test_api_answers_the_same_whoever_is_signed_in(role):
    client = _client(role)
    for method, url, body, status in API:
        if method == "get":
            response = client.get(url)
        else:
            response = client.post(url, data=body, content_type="application/json")
        assert response.status_code == status, f"{role} {method.upper()} {url}"


def test_ingest_api_rejects_revoked_and_wrong_tokens(client):
    from django.utils import timezone

    from advocates.services import ingest_token_issue

    token, secret = ingest_token_issue(name="matrix")
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}x"}
    assert client.post("/api/v1/mentions", data={"mentions": []},
                       content_type="application/json", **auth).status_code == 401
    token.revoked_at = timezone.now()
    token.save()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    assert client.post("/api/v1/mentions", data={"mentions": []},
                       content_type="application/json", **auth).status_code == 401

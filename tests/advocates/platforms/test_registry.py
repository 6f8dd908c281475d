"""The platform registry and the policies: every policy has a client, every client implements
what its policy promises, and nothing outside the policies and the clients names a platform."""

import inspect
import re
import subprocess
from pathlib import Path

import pytest

from advocates import policies
from advocates.platforms.base import (
    Messenger,
    PermanentError,
    PlatformClient,
    Poller,
    Streamer,
    WebhookReceiver,
)
from advocates.platforms.registry import CLIENTS, client_class

ROOT = Path(__file__).resolve().parents[3]


def test_every_policy_has_exactly_its_client():
    assert set(CLIENTS) == set(policies.POLICIES)
    for name, cls in CLIENTS.items():
        assert cls.policy is policies.POLICIES[name]
    with pytest.raises(PermanentError, match="no client for platform 'myspace'"):
        client_class("myspace")


@pytest.mark.parametrize("name", sorted(policies.POLICIES))
def test_a_client_implements_the_protocols_its_policy_promises(name):
    policy, cls = policies.POLICIES[name], CLIENTS[name]
    assert issubclass(cls, Poller) == policy.polls
    assert issubclass(cls, WebhookReceiver) == policy.webhooks
    assert issubclass(cls, Streamer) == policy.streams
    assert issubclass(cls, Messenger)
    # What the policy allows, the client overrides; what it does not, the base refuses.
    assert (cls.reshare is not PlatformClient.reshare) == policy.reshare
    assert (cls.send_dm is not PlatformClient.send_dm) == policy.direct_messages
    assert cls.reply is not PlatformClient.reply
    assert policy.webhook_fetches <= policy.webhooks
    # A reshare that can carry words (a disclosure line) says how; only a resharing network can.
    assert policy.reshare_text in {"", "quote", "caption"}
    assert not policy.reshare_text or policy.reshare
    assert "text" in inspect.signature(cls.reshare).parameters


def test_policies_are_frozen():
    with pytest.raises(AttributeError):
        policies.X.polls = False  # type: ignore[misc]


def test_the_x_rule_is_one_function_for_routing_and_delivery():
    """Routing passes the brand's handles and tracked terms; the X client what the post
    mentions. Both ask `x_automation_rule` through `PlatformPolicy.reply_refusal`, and only an
    @-mention of the brand's account satisfies it: a tracked term does not."""
    routing = policies.ReplyTarget(kind="post", text="@KanshaCoffee is great",
                                   brand_names=("@kanshacoffee", "kansha"))
    keyword = policies.ReplyTarget(kind="post", text="Kansha is great",
                                   brand_names=("@kanshacoffee", "kansha"))
    lookalike = policies.ReplyTarget(kind="post", text="@kanshacoffee_fan is great",
                                     brand_names=("@kanshacoffee", "kansha"))
    assert policies.X.reply_refusal(keyword) == policies.X_RULE
    assert policies.X.reply_refusal(lookalike) == policies.X_RULE
    delivery = policies.ReplyTarget(kind="post", text="is great", brand_names=("@kanshacoffee",),
                                    brand_ids=("1000",), mentioned_ids=("1000",))
    stranger = policies.ReplyTarget(kind="reply", text="the best café",
                                    brand_names=("@kanshacoffee", "kansha"))
    assert policies.X.reply_refusal(routing) == ""
    assert policies.X.reply_refusal(delivery) == ""
    assert policies.X.reply_refusal(stranger) == policies.X_RULE
    assert policies.GOOGLE.reply_refusal(policies.ReplyTarget(kind="post")) == (
        "Google reviews does not allow replies to a post")


def test_no_module_outside_the_policies_and_the_clients_names_a_platform():
    names = "|".join(re.escape(n) for n in policies.PLATFORM_NAMES if n != "sandbox")
    found = subprocess.run(
        ["grep", "-rnE", f"\"({names})\"", "advocates", "rewards", "cms", "--include=*.py"],
        cwd=ROOT, capture_output=True, text=True, check=False).stdout.splitlines()
    allowed = ("advocates/policies.py:", "advocates/platforms/")
    outside = [line for line in found if "/migrations/" not in line
               and not line.startswith(allowed)
               # A keyboard shortcut in the queue, not a platform.
               and '("x", _("Select for a bulk action"))' not in line
               # classify_mentions' output rows carry their file's line number.
               and '"line": line,' not in line]
    assert outside == []

"""What each network allows: one frozen `PlatformPolicy` per platform.

Routing asks a policy before it proposes, delivery asks the same policy before it calls a client,
and rewards ask it who can be messaged privately and whether a review may earn an incentive, so
nothing is proposed that delivery would refuse. Each client in `advocates/platforms/` names its
policy (`policy = policies.X`), and `tests/advocates/platforms/test_registry.py` checks that a
client implements what its policy promises.

Pure Python, no Django: the models take their platform choices from here and the pure routing
rules (`advocates/routing_rules.py`) ask it too, so it sits below both. This is the one module
outside the clients that names platforms; the fields are described in docs/platforms.md.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta

# Every kind of mention (advocates.schemas.MentionKindName).
ALL_KINDS = frozenset({"post", "reply", "quote", "comment", "checkin", "review", "tag",
                       "story"})


@dataclass(frozen=True, slots=True)
class ReplyTarget:
    """The post a brand reply would answer, as a platform's automation rule sees it.

    Routing builds one from a stored mention and the brand settings (the brand's handles and
    tracked terms); a client builds one from what the platform says about the post (the accounts
    it @-mentions). Both then ask the same `PlatformPolicy.reply_refusal`.
    """

    kind: str
    text: str = ""
    # How the post reached Kansha where that matters ("tagged", "hashtag", "mention_caption").
    origin: str = ""
    # How the brand is named: handles ("@kanshacoffee") and tracked terms ("Kansha Coffee").
    brand_names: tuple[str, ...] = ()
    # The brand's account ids on the platform.
    brand_ids: tuple[str, ...] = ()
    # The accounts the post @-mentions, by username and by id, as the platform lists them.
    mentioned_names: tuple[str, ...] = ()
    mentioned_ids: tuple[str, ...] = ()


def _bare(name: str) -> str:
    return name.lower().lstrip("@")


def as_handles(names: Iterable[str]) -> tuple[str, ...]:
    """Account names as handles, "@" first ("kanshacoffee" and "@kanshacoffee" alike)."""
    return tuple(n if n.startswith("@") else f"@{n}" for n in (n.strip() for n in names) if n)


def mentions_brand_account(target: ReplyTarget) -> bool:
    """Whether the post @-mentions the brand's account: by id, by username, or "@handle" in its
    text. A tracked term ("Kansha Coffee") is not a mention: the author did not address the
    brand, so the post does not invite an automated reply.

    Routing passes the brand's handles and tracked terms with the stored text; the X client the
    account's @username and id with the accounts the post mentions. Only the handles count, so
    both reach the same answer for the same post.
    """
    if set(target.brand_ids) & set(target.mentioned_ids):
        return True
    handles = {_bare(n) for n in target.brand_names if n.startswith("@") and len(n) > 1}
    if handles & {_bare(m) for m in target.mentioned_names if m}:
        return True
    return any(re.search(rf"(?<![\w@])@{re.escape(h)}(?!\w)", target.text, re.IGNORECASE)
               for h in handles)


def no_rule(target: ReplyTarget) -> str:
    return ""


X_RULE = "X automation rule: reply only to posts that mention the brand's @account"


def x_automation_rule(target: ReplyTarget) -> str:
    """X's automation rules: an automated reply only to a post that @-mentions the brand's
    account; replies found by keyword search alone are not allowed (docs/compliance.md)."""
    return "" if mentions_brand_account(target) else X_RULE


def instagram_automation_rule(target: ReplyTarget) -> str:
    """Instagram's platform terms: no comments on media the brand was only tagged in, nor on
    hashtag-search media; mentions in captions and comments may be answered."""
    if target.kind == "tag" or target.origin in {"tagged", "hashtag"}:
        return "Instagram rule: no comments on tagged or hashtag media"
    return ""


@dataclass(frozen=True)
class PlatformPolicy:
    """What Kansha may do on one platform, and how it hears from it. Immutable."""

    platform: str  # the stored name (Mention.platform, BrandAccount.platform)
    label: str  # what people read
    # How mentions arrive: a poll with a saved cursor, signed webhooks, a long-lived stream.
    polls: bool = False
    webhooks: bool = False
    # A webhook delivery only names the content, which must be fetched: such deliveries are
    # processed one per task, outside any transaction, with retries (not in batches).
    webhook_fetches: bool = False
    streams: bool = False
    # The kinds of mention a brand account may reply to.
    reply_kinds: frozenset[str] = ALL_KINDS
    # Whether the brand can message a person privately (reward messages go only there).
    direct_messages: bool = False
    # Whether the brand can reshare a post, and whether that needs the author's recorded consent.
    reshare: bool = False
    reshare_needs_consent: bool = False
    # How a reshare can carry words of the brand's own, such as the disclosure line a reshare of
    # a rewarded advocate's post must carry: "quote" (a quote post with text: X, Bluesky,
    # Mastodon 4.5+), "caption" (the republished copy has a caption: Instagram, the sandbox), or
    # "" (a plain repost carries no text: such a post is not reshared at all).
    reshare_text: str = ""
    # The brand may reply to a post only once: then a consent request cannot follow the
    # thank-you, and routing proposes no consent-gated reshare.
    one_reply_per_post: bool = False
    # Whether a review may earn an incentive (Google forbids rewarding reviews).
    review_incentives_allowed: bool = True
    # Why the platform's automation rules forbid a brand reply to a post ("" when allowed).
    automation_rule: Callable[[ReplyTarget], str] = no_rule
    # How long after a person's last message the brand may message them (None: no limit).
    messaging_window: timedelta | None = None
    # Automated posts per brand account: (capacity, per seconds) for the delivery token bucket.
    rate_limit: tuple[int, float] = (30, 60 * 60)

    def reply_refusal(self, target: ReplyTarget) -> str:
        """Why the brand may not reply to this post here ("" when it may).

        The one check both routing (before proposing) and delivery (before calling the
        client) make.
        """
        reason = self.automation_rule(target)
        if not reason and target.kind not in self.reply_kinds:
            reason = f"{self.label} does not allow replies to a {target.kind}"
        return reason

    def reshare_refusal(self, *, disclosure_needed: bool) -> str:
        """Why the brand may not reshare a post here ("" when it may).

        `disclosure_needed`: its author has received a reward from the brand, so the reshare
        must say so in its text (FTC 16 CFR 255.5; Japan's stealth-marketing designation). Where
        a reshare can carry no text it is refused rather than posted without a disclosure. Routing
        (before proposing) and delivery (before calling the client) both ask this.
        """
        if not self.reshare:
            return f"{self.label} does not allow reshares"
        if disclosure_needed and not self.reshare_text:
            return (f"{self.label} reshares carry no text, and the author has received a "
                    "reward: no reshare without a disclosure")
        return ""


SANDBOX = PlatformPolicy(
    platform="sandbox", label="Sandbox", direct_messages=True, reshare=True,
    reshare_text="caption", rate_limit=(120, 60))
X = PlatformPolicy(
    platform="x", label="X", polls=True, webhooks=True, streams=True, direct_messages=True,
    # A retweet carries no text; a quote post (POST /2/tweets with quote_tweet_id) does.
    reshare=True, reshare_text="quote", one_reply_per_post=True,
    automation_rule=x_automation_rule,
    rate_limit=(50, 15 * 60))
INSTAGRAM = PlatformPolicy(
    platform="instagram", label="Instagram", polls=True, webhooks=True, webhook_fetches=True,
    reply_kinds=frozenset({"post", "comment"}), reshare=True, reshare_needs_consent=True,
    reshare_text="caption",
    automation_rule=instagram_automation_rule, rate_limit=(25, 60 * 60))
FACEBOOK = PlatformPolicy(
    platform="facebook", label="Facebook", polls=True, webhooks=True,
    reply_kinds=frozenset({"post", "comment", "tag"}), direct_messages=True,
    # Messenger's standard messaging window: a page may message a person within 24 hours of
    # their last message to it.
    messaging_window=timedelta(hours=24), rate_limit=(50, 60 * 60))
GOOGLE = PlatformPolicy(
    platform="google", label="Google reviews", polls=True, webhooks=True, webhook_fetches=True,
    reply_kinds=frozenset({"review"}), review_incentives_allowed=False, rate_limit=(60, 60))
FOURSQUARE = PlatformPolicy(
    platform="foursquare", label="Foursquare / Swarm", webhooks=True,
    reply_kinds=frozenset({"checkin"}), rate_limit=(30, 60 * 60))
MASTODON = PlatformPolicy(
    platform="mastodon", label="Mastodon", polls=True, streams=True, direct_messages=True,
    # A reblog carries no text; a quote (quoted_status_id, Mastodon 4.5+) does, where the
    # author's quote policy allows it (else the instance refuses and nothing is posted).
    reshare=True, reshare_text="quote", rate_limit=(30, 5 * 60))
BLUESKY = PlatformPolicy(
    platform="bluesky", label="Bluesky", polls=True, streams=True, reshare=True,
    # A repost record carries no text; a post embedding the original (app.bsky.embed.record)
    # does.
    reshare_text="quote", rate_limit=(50, 5 * 60))

# LINE Official Account (Messaging API): no public posts to answer, only one-to-one chats with
# the people who added the account as a friend. Webhooks name the sender by id only, so the
# parser fetches their profile (webhook_fetches). Push messages reach a friend at any time;
# LINE's limit is 2,000 requests a second per channel, far above what staff write.
LINE = PlatformPolicy(
    platform="line", label="LINE", webhooks=True, webhook_fetches=True,
    reply_kinds=frozenset(), direct_messages=True, rate_limit=(100, 1))

POLICIES: dict[str, PlatformPolicy] = {p.platform: p for p in (
    SANDBOX, X, INSTAGRAM, FACEBOOK, GOOGLE, FOURSQUARE, MASTODON, BLUESKY, LINE)}
PLATFORM_NAMES: tuple[str, ...] = tuple(POLICIES)
PLATFORM_CHOICES: list[tuple[str, str]] = [(p.platform, p.label) for p in POLICIES.values()]


def policy_for(platform: str) -> PlatformPolicy:
    """The policy of a platform; `KeyError` for a name Kansha does not know."""
    return POLICIES[platform]


def platform_label(platform: str) -> str:
    policy = POLICIES.get(platform)
    return policy.label if policy is not None else platform


def platforms_where(test: Callable[[PlatformPolicy], bool],
                    among: Iterable[str] | None = None) -> list[str]:
    """The platform names whose policy passes `test` (e.g. `lambda p: p.direct_messages`)."""
    names = PLATFORM_NAMES if among is None else tuple(among)
    return [name for name in names if name in POLICIES and test(POLICIES[name])]


def dm_platforms() -> list[str]:
    """The platforms where the brand can message a person privately."""
    return platforms_where(lambda policy: policy.direct_messages)


def review_incentives_allowed(platform: str) -> bool:
    """Whether a review on this platform may earn an incentive (unknown platforms: yes)."""
    policy = POLICIES.get(platform)
    return policy is None or policy.review_incentives_allowed


def review_incentive_free_platforms() -> list[str]:
    """The platforms whose policy forbids any incentive tied to a review (Google)."""
    return platforms_where(lambda policy: not policy.review_incentives_allowed)


def event_may_earn_incentive(*, kind: str, platform: str) -> bool:
    """Whether an act of advocacy may earn points, count toward a rule or tier, or fire a grant.

    A review on a platform that forbids review incentives earns nothing of any kind: Google's
    policy counts loyalty points and progress toward a discount as incentives too.
    """
    return kind != "review" or review_incentives_allowed(platform)

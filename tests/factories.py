"""factory_boy factories shared by the tests."""

from datetime import UTC, datetime

import factory

from advocates.models import Advocate, Mention, Outreach, SocialIdentity


class AdvocateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Advocate

    display_name = factory.Faker("name")


class SocialIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SocialIdentity

    advocate = factory.SubFactory(AdvocateFactory)
    platform = "sandbox"
    platform_user_id = factory.Sequence(lambda n: f"user-{n}")
    handle = factory.Sequence(lambda n: f"@fan{n}")
    display_name = factory.Faker("name")
    follower_count = 120


class MentionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Mention

    platform = "sandbox"
    external_id = factory.Sequence(lambda n: f"m-{n}")
    kind = "post"
    author = factory.SubFactory(SocialIdentityFactory)
    text = "Loving my flat white from @kanshacoffee this morning!"
    language = "en"
    posted_at = factory.LazyFunction(lambda: datetime.now(UTC))
    source = "api"


class OutreachFactory(factory.django.DjangoModelFactory):
    """A thank-you proposal for a detected praise mention (as routing would propose it)."""

    class Meta:
        model = Outreach

    kind = "reply"
    status = "proposed"
    mention = factory.SubFactory(MentionFactory, detection_label="positive",
                                 detection_intent="praise", detection_confidence=0.91,
                                 detection_reasons=["praise word: loving"], route="thank")
    identity = factory.LazyAttribute(lambda o: o.mention.author)
    advocate = factory.LazyAttribute(lambda o: o.identity.advocate)
    platform = "sandbox"
    dedupe_key = factory.Sequence(lambda n: f"test:{n}")
    proposed_text = "Thank you so much! Enjoy your flat white."
    reasons = factory.LazyFunction(lambda: ["praise"])


def mention_item(n: int = 1, **overrides) -> dict:
    """One item of the normalised public schema, as a JSON-ready dict."""
    item = {
        "platform": "sandbox",
        "external_id": f"ext-{n}",
        "author_id": f"author-{n % 7}",
        "author_handle": f"@fan{n % 7}",
        "author_name": f"Fan {n % 7}",
        "text": f"Best cortado in town, thank you @kanshacoffee! #{n}",
        "posted_at": "2026-11-20T09:30:00+09:00",
        "kind": "post",
    }
    item.update(overrides)
    return item

"""The one list of platform clients: platform name → client class.

Explicit imports, no registration side effects: a client is installed by adding it here. Each
client names its `PlatformPolicy`; `tests/advocates/platforms/test_registry.py` checks that
every policy has a client and that each client implements what its policy promises.
"""

from __future__ import annotations

from advocates.platforms.base import PermanentError, PlatformClient
from advocates.platforms.bluesky import BlueskyClient
from advocates.platforms.facebook import FacebookClient
from advocates.platforms.foursquare import FoursquareClient
from advocates.platforms.google import GoogleClient
from advocates.platforms.instagram import InstagramClient
from advocates.platforms.line import LineClient
from advocates.platforms.mastodon import MastodonClient
from advocates.platforms.sandbox import SandboxClient
from advocates.platforms.x import XClient

CLIENTS: dict[str, type[PlatformClient]] = {cls.policy.platform: cls for cls in (
    SandboxClient, XClient, InstagramClient, FacebookClient, GoogleClient, FoursquareClient,
    MastodonClient, BlueskyClient, LineClient)}


def client_class(platform: str) -> type[PlatformClient]:
    """The client class for a platform; `PermanentError` when none is installed."""
    try:
        return CLIENTS[platform]
    except KeyError:
        raise PermanentError(f"no client for platform {platform!r}") from None

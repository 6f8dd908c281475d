"""Who does something: the `user` services are given (views pass `request.user`, a
`RequestUser`; commands, tasks and the API pass None), and the user to store as the one who
decided."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    RequestUser: TypeAlias = User | AnonymousUser
    Actor: TypeAlias = User | AnonymousUser | None


def actor_user(actor: Actor) -> User | None:
    """The signed-in user behind `actor`, for a `decided_by`-style column (None otherwise)."""
    return actor if actor is not None and actor.is_authenticated else None

"""One client module per social network, all behind `advocates.platforms.base.PlatformClient`.

`client_for(account)` returns the client for a connected `BrandAccount`.
"""

from advocates.platforms.base import (
    PermanentError,
    PlatformClient,
    PlatformError,
    PostResult,
    RateLimited,
    TransientError,
    client_for,
    register,
)

__all__ = [
    "PermanentError",
    "PlatformClient",
    "PlatformError",
    "PostResult",
    "RateLimited",
    "TransientError",
    "client_for",
    "register",
]

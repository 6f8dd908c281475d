"""Local discount codes: an unambiguous alphabet and a uniqueness loop (as in django-oscar).

The alphabet leaves out 0/O, 1/I/L and U, so a code read aloud or typed at a till is not
mistyped. 10 characters from 30 give ~5.9e14 codes, so the loop almost never repeats.
"""

from __future__ import annotations

import secrets

from django.db.models import Model

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
MAX_ATTEMPTS = 10


class CodeSpaceExhausted(RuntimeError):
    pass


def code_generate(*, prefix: str = "KAN", length: int = CODE_LENGTH) -> str:
    """A random code like `KAN-7XK2-MP9QRT` (the dashes are cosmetic and normalised away)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{prefix}-{body[:4]}-{body[4:]}" if prefix else body


def code_normalise(raw: str) -> str:
    """What a person typed → the stored form: upper case, spaces removed, dashes kept."""
    return "".join(raw.split()).upper()


def code_generate_unique(*, model: type[Model], field: str = "code",
                         taken: set[str] | None = None, prefix: str = "KAN") -> str:
    """A code not yet in `model.field` (nor in `taken`, for codes made in the same batch).

    The unique constraint on the column is the real guarantee; this loop only makes a clash
    at insert time vanishingly rare.
    """
    for _ in range(MAX_ATTEMPTS):
        code = code_generate(prefix=prefix)
        if taken is not None and code in taken:
            continue
        if not model._default_manager.filter(**{field: code}).exists():
            if taken is not None:
                taken.add(code)
            return code
    raise CodeSpaceExhausted(f"no free code after {MAX_ATTEMPTS} attempts")

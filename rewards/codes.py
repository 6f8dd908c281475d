"""Local discount codes: an unambiguous alphabet and a uniqueness loop (as in django-oscar).

The alphabet leaves out 0/O, 1/I/L and U, so a code read aloud or typed at a till is not
mistyped. 10 characters from 30 give ~5.9e14 codes, so the loop almost never repeats.
"""

from __future__ import annotations

import secrets
import unicodedata

from django.db.models import Func, Model, Value
from django.db.models.functions import Replace, Upper

ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_LENGTH = 10
MAX_ATTEMPTS = 10


class CodeSpaceExhausted(RuntimeError):
    pass


def code_generate(*, prefix: str = "KAN", length: int = CODE_LENGTH) -> str:
    """A random code like `KAN-7XK2-MP9QRT` (the dashes are cosmetic and normalised away)."""
    body = "".join(secrets.choice(ALPHABET) for _ in range(length))
    return f"{prefix}-{body[:4]}-{body[4:]}" if prefix else body


def perk_voucher_generate() -> str:
    """What the advocate shows at a store for a perk (`PRK-7XK2-MP9QRT`): the same alphabet
    as discount codes, another prefix, so the till tells them apart at a glance."""
    return code_generate(prefix="PRK")


# What people type for a dash: ASCII, Unicode dashes, the minus sign and the Japanese long
# vowel mark (an IME turns "-" into "ー"). NFKC has already folded full-width forms to ASCII.
_DASHES = frozenset("-\u2010\u2011\u2012\u2013\u2014\u2015\u2212\u30fc")


def code_normalise(raw: str) -> str:
    """What a person typed → the code's key: upper case, without spaces or dashes.

    `KAN-7XK2-MP9QRT`, `kan 7xk2 mp9qrt` and `KAN7XK2MP9QRT` are one code. The stored text
    keeps its dashes (it is what the message showed and what Stripe holds); uniqueness and
    lookups use this key (`code_key`).
    """
    text = unicodedata.normalize("NFKC", raw).upper()
    return "".join(ch for ch in text if not ch.isspace() and ch not in _DASHES)


def code_key(field: str = "code") -> Func:
    """The SQL twin of `code_normalise` for stored codes (which hold only A-Z, 0-9 and "-"),
    so a unique index and a lookup can use the same expression."""
    return Upper(Replace(field, Value("-"), Value("")))


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
        if not model._default_manager.alias(key=code_key(field)).filter(
                key=code_normalise(code)).exists():
            if taken is not None:
                taken.add(code)
            return code
    raise CodeSpaceExhausted(f"no free code after {MAX_ATTEMPTS} attempts")

"""Money on screen and in messages: integer minor units shown in normal units, by currency
and language ("¥4,200" in English and "4,200円" in Japanese; "$12.50"), and typed back.

Currencies and their exponents are rewards/currencies.py's (ISO 4217); its `money_format`
("4,200 JPY") is the plain, language-free form for exports and logs. Kept free of Django
models so reports, messages and forms share one formatter.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.utils import translation

from rewards.currencies import ISO_4217_EXPONENTS

SYMBOLS = {"jpy": "¥", "usd": "$", "eur": "€", "gbp": "£", "krw": "₩"}
# Currencies Japanese writes with a word after the number rather than a symbol before it.
JA_SUFFIX = {"jpy": "円"}


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point: 0 for yen, 2 for dollars (2 for a code Kansha does not
    know, which only old rows can hold)."""
    return ISO_4217_EXPONENTS.get(currency.lower(), 2)


def money_display(amount_minor: int, currency: str, language: str | None = None) -> str:
    """200 jpy → "¥200" (en) or "200円" (ja); 1250 usd → "$12.50"; 990 chf → "9.90 CHF".

    `language` defaults to the active one (the admin user's, or the advocate's in a message).
    """
    code = currency.lower()
    lang = (language or translation.get_language() or "en")[:2]
    exponent = currency_exponent(code)
    number = f"{abs(amount_minor) / 10 ** exponent:,.{exponent}f}"
    sign = "-" if amount_minor < 0 else ""
    if lang == "ja" and code in JA_SUFFIX:
        return f"{sign}{number}{JA_SUFFIX[code]}"
    if code in SYMBOLS:
        return f"{sign}{SYMBOLS[code]}{number}"
    return f"{sign}{number} {code.upper()}"


def money_to_units(amount_minor: int | None, currency: str) -> Decimal | None:
    """Minor units as the number a person types: 1250 usd → 12.50, 200 jpy → 200."""
    if amount_minor is None:
        return None
    exponent = currency_exponent(currency)
    return (Decimal(amount_minor) / 10 ** exponent).quantize(Decimal(1).scaleb(-exponent))


def money_to_minor(amount: Decimal | str | int, currency: str) -> int:
    """What a person typed in normal units, as minor units; ValueError when the currency has
    no such fraction (¥12.5) or it is not a number."""
    try:
        value = Decimal(str(amount).replace(",", "").strip())
    except InvalidOperation as exc:
        raise ValueError(f"{amount!r} is not an amount") from exc
    minor = value.scaleb(currency_exponent(currency))
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency.upper()} has {currency_exponent(currency)} decimal places")
    return int(minor)

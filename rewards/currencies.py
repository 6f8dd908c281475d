"""Money at the edge: ISO 4217 currencies with their minor-unit exponents, amount bounds, and
text that may be stored.

Kansha keeps money as an integer number of minor units beside a lower-case ISO 4217 code. The
exponent says what a minor unit is: JPY has none (1 minor unit = ¥1), USD two (1 = $0.01),
KWD three. Every door that takes money (the admin's forms, the redemption API, the commands,
Stripe's webhooks) checks it here, so a perk in "yen", or an order of 2^63 yen, is refused with
a message that says why, before anything is stored.
"""

from __future__ import annotations

import unicodedata
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

# ISO 4217 (list one, active codes with a minor unit), code → exponent. Funds codes (BOV, CHE,
# CHW, CLF, COU, MXV, USN, UYI, UYW) are kept: they are valid codes with their own exponents.
# Precious metals, testing and "no currency" codes (XAU, XTS, XXX, ...) have no minor unit
# and are not money here.
ISO_4217_EXPONENTS: dict[str, int] = {
    "aed": 2, "afn": 2, "all": 2, "amd": 2, "aoa": 2, "ars": 2, "aud": 2, "awg": 2, "azn": 2,
    "bam": 2, "bbd": 2, "bdt": 2, "bgn": 2, "bhd": 3, "bif": 0, "bmd": 2, "bnd": 2, "bob": 2,
    "bov": 2, "brl": 2, "bsd": 2, "btn": 2, "bwp": 2, "byn": 2, "bzd": 2, "cad": 2, "cdf": 2,
    "che": 2, "chf": 2, "chw": 2, "clf": 4, "clp": 0, "cny": 2, "cop": 2, "cou": 2, "crc": 2,
    "cup": 2, "cve": 2, "czk": 2, "djf": 0, "dkk": 2, "dop": 2, "dzd": 2, "egp": 2, "ern": 2,
    "etb": 2, "eur": 2, "fjd": 2, "fkp": 2, "gbp": 2, "gel": 2, "ghs": 2, "gip": 2, "gmd": 2,
    "gnf": 0, "gtq": 2, "gyd": 2, "hkd": 2, "hnl": 2, "htg": 2, "huf": 2, "idr": 2, "ils": 2,
    "inr": 2, "iqd": 3, "irr": 2, "isk": 0, "jmd": 2, "jod": 3, "jpy": 0, "kes": 2, "kgs": 2,
    "khr": 2, "kmf": 0, "kpw": 2, "krw": 0, "kwd": 3, "kyd": 2, "kzt": 2, "lak": 2, "lbp": 2,
    "lkr": 2, "lrd": 2, "lsl": 2, "lyd": 3, "mad": 2, "mdl": 2, "mga": 2, "mkd": 2, "mmk": 2,
    "mnt": 2, "mop": 2, "mru": 2, "mur": 2, "mvr": 2, "mwk": 2, "mxn": 2, "mxv": 2, "myr": 2,
    "mzn": 2, "nad": 2, "ngn": 2, "nio": 2, "nok": 2, "npr": 2, "nzd": 2, "omr": 3, "pab": 2,
    "pen": 2, "pgk": 2, "php": 2, "pkr": 2, "pln": 2, "pyg": 0, "qar": 2, "ron": 2, "rsd": 2,
    "rub": 2, "rwf": 0, "sar": 2, "sbd": 2, "scr": 2, "sdg": 2, "sek": 2, "sgd": 2, "shp": 2,
    "sle": 2, "sos": 2, "srd": 2, "ssp": 2, "stn": 2, "svc": 2, "syp": 2, "szl": 2, "thb": 2,
    "tjs": 2, "tmt": 2, "tnd": 3, "top": 2, "try": 2, "ttd": 2, "twd": 2, "tzs": 2, "uah": 2,
    "ugx": 0, "usd": 2, "usn": 2, "uyi": 0, "uyu": 2, "uyw": 4, "uzs": 2, "ved": 2, "ves": 2,
    "vnd": 0, "vuv": 0, "wst": 2, "xaf": 0, "xcd": 2, "xcg": 2, "xof": 0, "xpf": 0, "yer": 2,
    "zar": 2, "zmw": 2, "zwg": 2,
}

# Where Stripe's API amounts are not ISO minor units: Stripe takes ISK in hundredths (ISO: no
# minor unit) and MGA in whole ariary (ISO: two decimals). Kansha stores what Stripe sends, so
# a Stripe code in one of these would be counted in the wrong unit: they are refused for
# Stripe-backed rewards until a conversion is written.
STRIPE_UNIT_DIFFERS = frozenset({"isk", "mga"})


class MoneyError(ValueError):
    """A currency or an amount that Kansha refuses; the message says why (shown as is)."""


def currency_clean(value: object) -> str:
    """The ISO 4217 code as Kansha stores it (lower case). Raises MoneyError otherwise."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if text not in ISO_4217_EXPONENTS:
        shown = value if isinstance(value, str) else type(value).__name__
        raise MoneyError(f"“{text_printable(str(shown))}” is not an ISO 4217 currency code; "
                         "use three letters such as JPY, USD or EUR.")
    return text


def currency_exponent(currency: str) -> int:
    """Digits after the decimal point in the currency's minor unit (JPY 0, USD 2, KWD 3)."""
    return ISO_4217_EXPONENTS[currency_clean(currency)]


def amount_max_minor(currency: str) -> int:
    """The largest amount Kansha accepts in this currency, in minor units.

    `KANSHA_MONEY_MAX_MAJOR` (default ten million) whole units of any currency: ¥10,000,000,
    $10,000,000.00. Far above any order a till or Stripe Checkout sends, far below what breaks
    a sum (the report of the issue that asked for this held a discount of 9.2 × 10^17).
    """
    return int(settings.KANSHA_MONEY_MAX_MAJOR) * 10 ** currency_exponent(currency)


def amount_clean(value: object, currency: str, *, field: str, allow_zero: bool = False) -> int:
    """An amount in minor units within the bounds; raises MoneyError naming `field`."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"{field} must be a whole number of minor units, not {value!r}.")
    if value < 0 or (value == 0 and not allow_zero):
        raise MoneyError(f"{field} must be {'zero or more' if allow_zero else 'positive'}, "
                         f"not {value}.")
    limit = amount_max_minor(currency)
    if value > limit:
        raise MoneyError(f"{field} {value:,} is above the limit of {money_format(limit, currency)}"
                         " (KANSHA_MONEY_MAX_MAJOR).")
    return value


def amount_major(amount_minor: int, currency: str) -> Decimal:
    """Minor units as an exact decimal of major units (4200 USD → 42.00)."""
    exponent = currency_exponent(currency)
    return Decimal(amount_minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-exponent))


def money_format(amount_minor: int, currency: str) -> str:
    """`4,500 JPY`, `45.00 USD`, `1.500 KWD`; an unknown currency shows the bare integer."""
    if currency.lower() not in ISO_4217_EXPONENTS:
        return f"{amount_minor:,} {currency.upper()}".strip()
    return f"{amount_major(amount_minor, currency):,} {currency.upper()}"


# --- Text ----------------------------------------------------------------------------------


def text_problem(value: str) -> str:
    """Why this text cannot be stored ('' if it can): a NUL, which PostgreSQL refuses in text,
    or a lone surrogate, which is not a character at all and cannot be encoded as UTF-8."""
    for i, ch in enumerate(value):
        if ch == "\x00":
            return f"contains a NUL character (at position {i + 1})"
        if unicodedata.category(ch) == "Cs":
            return f"contains a lone surrogate U+{ord(ch):04X} (at position {i + 1})"
    return ""


def text_printable(value: str) -> str:
    """The text with NUL and surrogates shown as escapes, safe to put in a message."""
    return "".join(ch if ch != "\x00" and unicodedata.category(ch) != "Cs"
                   else f"\\u{ord(ch):04x}" for ch in value)


def text_clean(value: str, *, field: str) -> str:
    """The text unchanged, or MoneyError naming the field and the bad character."""
    problem = text_problem(value)
    if problem:
        raise MoneyError(f"{field} {problem}.")
    return value


# --- Model and form validators (the admin's forms run these) -------------------------------


def validate_currency(value: str) -> None:
    try:
        currency_clean(value)
    except MoneyError as exc:
        raise ValidationError(str(exc), code="currency") from None


def validate_text(value: str) -> None:
    problem = text_problem(value or "")
    if problem:
        raise ValidationError(f"This text {problem}.", code="text")


class CurrencyField(models.CharField):
    """A lower-case ISO 4217 code. What a person types ("JPY", " usd ") is normalised before
    it is validated, so only the codes of ISO_4217_EXPONENTS are ever stored."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 3)
        super().__init__(*args, **kwargs)

    def to_python(self, value):
        value = super().to_python(value)
        return value.strip().lower() if isinstance(value, str) else value

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 3:
            del kwargs["max_length"]
        return name, path, args, kwargs

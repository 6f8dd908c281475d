"""The text of reply templates: which variables a purpose may use, validation, rendering and
the editor's preview on a sample mention.

Pure functions of text (no queries), below the models so that `ReplyTemplate` can validate
and preview itself; choosing and rotating templates is `advocates.services.templates`.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

BASE_VARIABLES = frozenset({"first_name", "handle", "venue", "platform", "brand"})
PURPOSE_VARIABLES: dict[str, frozenset[str]] = {
    "reward": frozenset({"code", "reward", "expires", "page_url"}),
    "consent": frozenset({"consent_url"}),
}
FALLBACK_LANGUAGE = "en"


def template_variables_allowed(purpose: str | None) -> frozenset[str]:
    """The variables a purpose may use; None (purpose not known yet) allows every one."""
    if purpose is None:
        return BASE_VARIABLES.union(*PURPOSE_VARIABLES.values())
    return BASE_VARIABLES | PURPOSE_VARIABLES.get(purpose, frozenset())


def template_text_validate(*, text: str, purpose: str | None) -> None:
    """Raise ValidationError if `text` has a broken brace or a variable `purpose` lacks.

    Called from the model's clean(), so marketing sees the error when saving, never a
    failure when a reply is sent.
    """
    if not text.strip():
        raise ValidationError("A variant needs some text.")
    allowed = template_variables_allowed(purpose)
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValidationError(
            f"Broken braces ({exc}). Write variables like {{first_name}}; to show a literal "
            "brace, double it: {{ or }}."
        ) from exc
    unknown = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in allowed or spec or conversion:
            unknown.append("{" + name + (f"!{conversion}" if conversion else "")
                           + (f":{spec}" if spec else "") + "}")
    if unknown:
        plural = "s" if len(unknown) > 1 else ""
        allowed_text = ", ".join("{" + v + "}" for v in sorted(allowed))
        raise ValidationError(
            f"Unknown variable{plural} {', '.join(unknown)}. Allowed here: {allowed_text}."
        )


class _Blank(dict):
    def __missing__(self, key: str) -> str:
        return ""


def template_text_render(text: str, context: Mapping[str, Any]) -> str:
    """Fill a validated variant; a variable with no value renders as empty text."""
    values = _Blank({k: ("" if v is None else str(v)) for k, v in context.items()})
    filled = text.format_map(values)
    # An empty variable must not leave "by , Aiko" or double spaces behind.
    filled = _SPACE_BEFORE_PUNCT.sub(r"\1", filled)
    return _SPACES.sub(" ", filled).strip()


_SPACE_BEFORE_PUNCT = re.compile(r"[ \t]+([,.!?;:、。！？])")
_SPACES = re.compile(r"[ \t]{2,}")


_NOT_MATCHED = re.compile(r"[\s\-‐‑–—_・･.]+")


def keyword_normal(text: str) -> str:
    """How questions and keywords are compared: NFKC (full-width Ｗｉ－Ｆｉ is Wi-Fi), case
    folded, without spaces, hyphens and middle dots ("Wi-Fi", "wifi" and "WI FI" agree)."""
    return _NOT_MATCHED.sub("", unicodedata.normalize("NFKC", text).casefold())


def template_text_variables(text: str) -> frozenset[str]:
    """The variables a variant uses (`{code}` → "code"; a doubled `{{code}}` is literal)."""
    try:
        return frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
    except ValueError:
        return frozenset()


def template_preview(*, template: Any, variants: Iterable[str] | None = None
                     ) -> list[dict[str, str]]:
    """Each variant rendered on a sample mention, for the editor's preview."""
    sample = _SAMPLES.get(template.language, _SAMPLES[FALLBACK_LANGUAGE])
    context = dict(sample["context"])
    context.update(PURPOSE_SAMPLES)
    texts = list(variants) if variants is not None else [v.text for v in template.variants.all()]
    out = []
    for n, text in enumerate(texts, start=1):
        try:
            template_text_validate(text=text, purpose=template.purpose)
            rendered, error = template_text_render(text, context), ""
        except ValidationError as exc:
            rendered, error = "", "; ".join(exc.messages)
        out.append({"variant": str(n), "source": text, "text": rendered, "error": error})
    return out


_SAMPLES: dict[str, dict[str, Any]] = {
    "en": {"mention": "Best flat white in Shibuya, thank you @kanshacoffee! ☕",
           "context": {"first_name": "Aiko", "handle": "@aiko_drinks_coffee",
                       "venue": "Shibuya store", "platform": "X", "brand": "Kansha Coffee"}},
    "ja": {"mention": "渋谷店のフラットホワイト最高でした！ @kanshacoffee",
           "context": {"first_name": "あいこ", "handle": "@aiko_drinks_coffee",
                       "venue": "渋谷店", "platform": "X", "brand": "カンシャ珈琲"}},
}
PURPOSE_SAMPLES = {"code": "THANKS-7QX2", "reward": "a free pastry", "expires": "2026-12-31",
                   "page_url": "https://example.com/me/sample/",
                   "consent_url": "https://example.com/consent/?token=sample"}


def sample_mention_text(language: str) -> str:
    return _SAMPLES.get(language, _SAMPLES[FALLBACK_LANGUAGE])["mention"]



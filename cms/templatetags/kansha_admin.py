"""Template helpers for Kansha's admin templates."""

from django import template

from cms.dashboard import uses_pages as user_uses_pages
from rewards.money import money_display

register = template.Library()


@register.filter
def uses_pages(user) -> bool:
    return user_uses_pages(user)


@register.simple_tag
def money(amount_minor, currency) -> str:
    """{% money 4200 "jpy" %} → ¥4,200 (en) or 4,200円 (ja)."""
    if amount_minor in (None, ""):
        return "—"
    return money_display(int(amount_minor), str(currency or ""))

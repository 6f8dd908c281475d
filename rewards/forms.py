"""Admin forms for the reward programme: money typed in normal units, and a rule editor that
asks only for what the chosen trigger and reward use.

Both are checked on the server too: a hidden field is reset to its default (a value typed
under another trigger is not kept), a shown one that the rule needs is required.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any, ClassVar, cast

from django import forms
from django.utils.translation import gettext_lazy as _
from wagtail.admin.forms import WagtailAdminModelForm

from rewards.money import currency_exponent, money_to_minor, money_to_units


class MoneyField(forms.DecimalField):
    """A decimal typed the way people write money: "3,000", "¥3,000", "3000円", "$12.50"."""

    def to_python(self, value):
        if isinstance(value, str):
            value = value.translate(str.maketrans("０１２３４５６７８９．，", "0123456789.,"))
            value = value.replace(",", "").strip().strip("¥$€£円").strip()
        return super().to_python(value)


class MoneyFormMixin(forms.BaseForm):
    """Integer minor-unit fields shown and typed in normal units of the form's currency:
    "12.50" for $12.50, "200" for ¥200."""

    # field name -> (label, help text); the currency is the form's `currency` field.
    MONEY_FIELDS: ClassVar[dict[str, tuple[Any, Any]]] = {}

    def _money_init(self, instance) -> None:
        currency = (self.data.get(self.add_prefix("currency")) if self.is_bound else None) or \
            getattr(instance, "currency", "") or "jpy"
        for name, (label, help_text) in self.MONEY_FIELDS.items():
            if name not in self.fields:
                continue
            old = self.fields[name]
            self.fields[name] = MoneyField(
                label=label, help_text=help_text, required=old.required, min_value=Decimal(0),
                decimal_places=2, max_digits=14,
                widget=forms.TextInput(attrs={"inputmode": "decimal", "class": "kansha-money"}))
            value = getattr(instance, name, None)
            if value is not None and not self.is_bound:
                self.initial[name] = money_to_units(value, currency)

    def _money_clean(self, data: dict) -> None:
        currency = (data.get("currency") or "jpy").lower()
        for name in self.MONEY_FIELDS:
            value = data.get(name)
            if value in (None, ""):
                data[name] = None
                continue
            try:
                data[name] = money_to_minor(value, currency)
            except ValueError:
                self.add_error(name, _("%(currency)s amounts have %(n)s decimal places.") % {
                    "currency": currency.upper(), "n": currency_exponent(currency)})


MONEY_HELP = _("In the currency below, in normal units: 200 is ¥200, 12.50 is $12.50.")


class PerkForm(MoneyFormMixin, WagtailAdminModelForm):
    MONEY_FIELDS: ClassVar[dict[str, tuple[Any, Any]]] = {
        "unit_cost_minor": (_("Unit cost"), _("What one unit costs the brand (for budgets), "
                                                "in normal units: 1200 is ¥1,200.")),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._money_init(self.instance)

    def clean(self):
        data = super().clean()
        self._money_clean(data)
        if data.get("unit_cost_minor") is None:
            data["unit_cost_minor"] = 0
        return data


# Which fields each choice shows. A field named under a controlling field shows only for the
# choices that list it; a field that no controller names always shows.
RULE_DEPENDS: dict[str, dict[str, list[str]]] = {
    "trigger": {
        "events_in_days": ["trigger_count", "trigger_days", "trigger_event_kind"],
        "tier_reached": ["trigger_tier"],
        "first_checkin": [],
        "review": ["trigger_min_rating"],
    },
    "reward_kind": {
        "discount": ["discount_type", "percent_off", "amount_off_minor", "code_expiry_days",
                     "minimum_order_minor", "single_use", "budget_estimate_minor"],
        "perk": ["perk"],
    },
    "discount_type": {
        "percent": ["percent_off", "budget_estimate_minor"],
        "amount": ["amount_off_minor"],
    },
}
# Needed whenever shown (the model has defaults for them, but an empty box is a mistake).
RULE_REQUIRED_WHEN_SHOWN = {"trigger_count", "trigger_days", "trigger_min_rating",
                            "code_expiry_days"}


def rule_fields_shown(values: dict[str, Any]) -> set[str]:
    """The dependent fields that apply to these choices (trigger, reward kind, discount type)."""
    shown: set[str] | None = None
    for controller, options in RULE_DEPENDS.items():
        named = {f for fields in options.values() for f in fields}
        applies = set(options.get(str(values.get(controller) or ""), []))
        if controller == "discount_type" and values.get("reward_kind") != "discount":
            applies = set()
        allowed = applies | (_all_dependent() - named)
        shown = allowed if shown is None else shown & allowed
    return shown or set()


def _all_dependent() -> set[str]:
    return {f for options in RULE_DEPENDS.values() for fields in options.values()
            for f in fields}


class RewardRuleForm(MoneyFormMixin, WagtailAdminModelForm):
    MONEY_FIELDS: ClassVar[dict[str, tuple[Any, Any]]] = {
        "amount_off_minor": (_("Amount off"), MONEY_HELP),
        "minimum_order_minor": (_("Minimum order"), _("Optional. The order must be at least "
                                                      "this much for the code to work.")),
        "monthly_budget_minor": (_("Monthly budget"), _(
            "Optional. The most this rule may commit per calendar month (UTC); empty means "
            "no budget.")),
        "budget_estimate_minor": (_("Budget per percent-off grant"), _(
            "What one percent-off code counts against the budget.")),
        "finance_approval_above_minor": (_("Finance approves grants above"), _(
            "Optional. Grants costing more wait for finance's approval.")),
    }

    LABELS: ClassVar[dict[str, tuple[Any, Any]]] = {
        "name": (_("Name"), None),
        "currency": (_("Currency"), None),
        "trigger": (_("When does it fire?"), ""),
        "trigger_count": (_("Acts of advocacy"), _("How many (praise, check-ins, reviews, "
                                                   "reshares)…")),
        "trigger_days": (_("Within (days)"), _("…within this many days.")),
        "trigger_event_kind": (_("Only this kind"), _("Optional: count only one kind.")),
        "trigger_tier": (_("Tier"), _("The tier whose members get it, once.")),
        "trigger_min_rating": (_("Lowest star rating"), _("1 to 5.")),
        "min_account_age_days": (_("Minimum account age (days)"), ""),
        "min_followers": (_("Minimum followers"), ""),
        "reward_kind": (_("Reward"), ""),
        "discount_type": (_("Discount"), ""),
        "percent_off": (_("Percent off"), ""),
        "code_expiry_days": (_("Code valid for (days)"), ""),
        "single_use": (_("Single use"), ""),
        "perk": (_("Perk"), ""),
        "message_template": (_("Message template"), None),
        "period": (_("How often per advocate"), ""),
    }

    class Media:
        js = ["rewards/rule_form.js"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._money_init(self.instance)
        for name, (label, help_text) in self.LABELS.items():
            if name in self.fields:
                self.fields[name].label = label
                if help_text is not None:
                    self.fields[name].help_text = help_text
        if "trigger" in self.fields:
            self.fields["trigger"].choices = [
                ("events_in_days", _("Several acts of advocacy within some days")),
                ("tier_reached", _("Reaching a tier")),
                ("first_checkin", _("A first check-in at a venue")),
            ]
        self._offer_refused_choice_only_if_saved()
        for name in _all_dependent():
            if name in self.fields:
                self.fields[name].required = False
        for controller, options in RULE_DEPENDS.items():
            if controller in self.fields:
                self.fields[controller].widget.attrs["data-kansha-controls"] = json.dumps(options)

    def _offer_refused_choice_only_if_saved(self) -> None:
        """A new rule is not offered review triggers (the law forbids them, see
        `RewardRule.compliance_refusal`); a rule saved with one before keeps the choice, so its
        editor shows why it must change instead of a bare "not a valid choice"."""
        instance = self.instance
        trigger = self.fields.get("trigger")
        if isinstance(trigger, forms.ChoiceField) and instance.trigger == "review":
            trigger.choices = [*cast(list, trigger.choices),
                               ("review", _("A review with enough stars (not allowed)"))]
        kind = self.fields.get("trigger_event_kind")
        if isinstance(kind, forms.ChoiceField) and instance.trigger_event_kind != "review":
            kind.choices = [c for c in cast(list, kind.choices) if c[0] != "review"]

    def clean(self):
        data = super().clean()
        self._money_clean(data)
        shown = rule_fields_shown(data)
        for name in _all_dependent():
            if name not in self.fields:
                continue
            if name not in shown:
                # Not asked for this trigger or reward: keep the model's default, not a value
                # typed before the choice changed.
                model_field = self._meta.model._meta.get_field(name)
                data[name] = None if model_field.null else model_field.get_default()
                self.errors.pop(name, None)
            elif name in RULE_REQUIRED_WHEN_SHOWN and data.get(name) in (None, ""):
                self.add_error(name, _("This field is required for this kind of rule."))
        return data


class RewardsSettingsForm(WagtailAdminModelForm):
    """Rewards settings, with the points values held back: they are money, so new values wait
    for a finance approver who is not the person who typed them. The row keeps its live
    values; what was asked for is left on the instance as `points_proposal`, and the settings
    hook (rewards/wagtail_hooks.py) records it as a PointsSettingsChange."""

    def save(self, commit=True):
        instance = super().save(commit=False)
        model = type(instance)
        live = model.objects.filter(pk=instance.pk).first() if instance.pk else None
        proposal: dict[str, Any] = {}
        if live is not None:
            for name in model.POINTS_FIELDS:
                if getattr(instance, name) != getattr(live, name):
                    proposal[name] = getattr(instance, name)
                    setattr(instance, name, getattr(live, name))
        instance.points_proposal = proposal
        if commit:
            instance.save()
            self.save_m2m()
        return instance

"""The till: store staff type or scan a code, see whether it is good, whose it is (first name
only) and what it takes off, then record the sale in the currency's normal units (¥4,200,
$12.50). Finance may use it too. Needs `rewards.use_till`.

GET with `?code=` only looks the code up (services.code_check); the POST records the use
(services.code_redeem), so a refreshed page or a second tap never redeems twice: the order
reference, or the code's own use count, is the redemption's unique key.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import formats, translation
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from advocates.admin.queue import permission_required
from rewards import services
from rewards.models import DiscountCode, DiscountType
from rewards.money import currency_exponent, money_display, money_to_minor
from rewards.services import CodeCheck, CodeState, GrantError, RedemptionError

TILL_PERMISSION = "rewards.use_till"
# Symbols and separators a cashier may type with the number; the amount is the digits.
_AMOUNT_NOISE = str.maketrans("", "", "¥$€£₩円 ,\u00a0")


def _state_message(check: CodeCheck) -> str:
    """What the person at the till reads: plain words, and what to do next."""
    code = check.code
    if check.state == CodeState.UNKNOWN:
        return str(_("No such code. Check what was typed: codes never use 0, O, 1, I, L or U."))
    if check.state == CodeState.USED and check.last_used_at:
        return str(_("This code was already used on %(when)s. A code works once.")
                   % {"when": formats.date_format(check.last_used_at, "SHORT_DATETIME_FORMAT")})
    if check.state == CodeState.USED:
        return str(_("This code was already used. A code works once."))
    if check.state == CodeState.EXPIRED and code is not None and code.expires_at:
        return str(_("This code expired on %(date)s.")
                   % {"date": formats.date_format(code.expires_at, "SHORT_DATE_FORMAT")})
    if check.state == CodeState.EXPIRED:
        return str(_("This code has expired."))
    if check.state == CodeState.REVOKED:
        return str(_("This code was withdrawn and cannot be used."))
    if check.state == CodeState.NOT_ACTIVE:
        return str(_("This code is not active yet: its reward is waiting for approval."))
    return str(_("Valid. Ring up the order, then record it here."))


def _discount(code: DiscountCode) -> str:
    if code.discount_type == DiscountType.PERCENT:
        return str(_("%(percent)s%% off") % {"percent": code.percent_off})
    return str(_("%(amount)s off") % {"amount": money_display(code.amount_off_minor or 0,
                                                             code.currency)})


class CodeForm(forms.Form):
    code = forms.CharField(label=_("Code"), max_length=60, widget=forms.TextInput(attrs={
        "autofocus": True, "autocomplete": "off", "autocapitalize": "characters",
        "spellcheck": "false", "placeholder": "KAN-7XK2-MP9QRT"}))


class RedeemForm(forms.Form):
    code = forms.CharField(widget=forms.HiddenInput, max_length=60)
    currency = forms.CharField(widget=forms.HiddenInput, max_length=3)
    amount = forms.CharField(
        label=_("Order total, before the discount"), max_length=30,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off",
                                      "autofocus": True}))
    order_ref = forms.CharField(
        label=_("Receipt or order number"), max_length=120, required=False,
        help_text=_("Optional. With it, recording the same sale twice records it once."))

    def clean(self):
        data = super().clean()
        if "amount" in data and "currency" in data:
            try:
                data["amount_minor"] = money_to_minor(
                    data["amount"].translate(_AMOUNT_NOISE), data["currency"])
            except ValueError:
                places = currency_exponent(data["currency"])
                self.add_error("amount", _("Type the amount as on the receipt, e.g. %(example)s.")
                               % {"example": money_display(420000 if places == 0 else 1250,
                                                           data["currency"])})
        return data


_VOUCHER_MESSAGES = {
    CodeState.VALID: _("Valid. Hand the perk over, then record it here."),
    CodeState.USED: _("This perk was already handed over."),
    CodeState.REVOKED: _("This perk was cancelled and cannot be handed over."),
}


def _voucher_context(voucher: services.VoucherCheck) -> dict:
    perk = voucher.fulfilment.perk
    return {"voucher": voucher, "ok": voucher.state == CodeState.VALID,
            "message": _VOUCHER_MESSAGES[voucher.state],
            "perk_name": (perk.name_ja if translation.get_language() == "ja" else "")
            or perk.name}


def _check_context(raw: str) -> dict:
    voucher = services.perk_voucher_check(code=raw)
    if voucher is not None:
        return _voucher_context(voucher)
    check = services.code_check(code=raw)
    context: dict = {"check": check, "message": _state_message(check),
                     "ok": check.state == CodeState.VALID}
    code = check.code
    if code is not None:
        context["discount"] = _discount(code)
        if code.minimum_order_minor:
            context["minimum"] = money_display(code.minimum_order_minor, code.currency)
    if context["ok"] and code is not None:
        context["redeem_form"] = RedeemForm(initial={"code": code.code,
                                                     "currency": code.currency})
    return context


@require_http_methods(["GET", "POST"])
@permission_required(TILL_PERMISSION)
def till(request: HttpRequest) -> HttpResponse:
    context: dict = {"page_title": _("Till"), "form": CodeForm(request.GET or None)}
    if request.method == "POST" and "voucher" in request.POST:
        raw = request.POST["voucher"][:60]
        voucher = services.perk_voucher_check(code=raw)
        try:
            services.perk_voucher_redeem(code=raw, user=request.user)
        except GrantError:
            messages.error(request, _VOUCHER_MESSAGES[voucher.state] if voucher is not None
                           else _state_message(CodeCheck(CodeState.UNKNOWN, "")))
            return redirect(f"{reverse('kansha_till')}?code={raw}")
        if voucher is None:  # redeemed, so it was found: only a concurrent erasure gets here
            return redirect(f"{reverse('kansha_till')}?code={raw}")
        messages.success(request, _("Handed over: %(perk)s for %(name)s.") % {
            "perk": _voucher_context(voucher)["perk_name"],
            "name": voucher.first_name or _("the customer")})
        return redirect("kansha_till")
    if request.method == "POST":
        form = RedeemForm(request.POST)
        raw = request.POST.get("code", "")
        context.update(_check_context(raw))
        context["form"] = CodeForm(initial={"code": raw})
        if form.is_valid():
            data = form.cleaned_data
            try:
                redemption, _created = services.code_redeem(
                    code=data["code"], order_amount_minor=data["amount_minor"],
                    currency=data["currency"], order_ref=data["order_ref"])
            except RedemptionError as exc:
                # Someone else used it a moment ago, or the order is below the minimum: say
                # it in the till's words when the code's state explains it.
                recheck = services.code_check(code=data["code"])
                messages.error(request, _state_message(recheck)
                               if recheck.state != CodeState.VALID else str(exc))
                return redirect(f"{reverse('kansha_till')}?code={data['code']}")
            currency = redemption.currency
            messages.success(request, _(
                "Recorded for %(name)s: order %(order)s, discount %(discount)s, to pay "
                "%(paid)s.") % {
                "name": context["check"].first_name or _("the customer"),
                "order": money_display(data["amount_minor"], currency),
                "discount": money_display(redemption.discount_minor or 0, currency),
                "paid": money_display(redemption.order_amount_minor or 0, currency)})
            return redirect("kansha_till")
        if context["ok"]:
            context["redeem_form"] = form  # with its errors (an amount it could not read)
    elif context["form"].is_valid():
        context.update(_check_context(context["form"].cleaned_data["code"]))
    if "check" in context or "voucher" in context:
        # The code is in; the next thing to type is the amount.
        context["form"].fields["code"].widget.attrs.pop("autofocus", None)
    return TemplateResponse(request, "rewards/admin/till.html", context)


def admin_urls():
    return [path("till/", till, name="kansha_till")]

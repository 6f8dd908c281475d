"""The advocate's own page: the signed link in our DMs, no account or password.

GET shows their standing; POST `perk` + `key` spends points on a perk. The form carries a
fresh key each time it is drawn, so a double click (or a resent form) is one spend.
Language: `?lang=ja|en`, else the browser's.
"""

from __future__ import annotations

import re
import secrets

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import translation
from django.utils.translation import gettext as _

from advocates.models import OptOutPage
from advocates.services.consent import opt_out_token_make, own_page_token_read
from rewards.selectors import own_page, points_entry_label
from rewards.services import SpendError, points_spend

_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _refusal(code: str) -> str:
    return {SpendError.NOT_ENOUGH: _("You do not have enough points for this perk yet."),
            SpendError.OUT_OF_STOCK: _("Sorry, this perk has just run out."),
            SpendError.OPTED_OUT: _("You have opted out, so points can no longer be spent."),
            }.get(code, _("This perk is not available."))


def own_page_view(request: HttpRequest, token: str) -> HttpResponse:
    lang = request.GET.get("lang") or translation.get_language_from_request(request)
    lang = lang if lang in ("en", "ja") else "en"
    with translation.override(lang):
        advocate = own_page_token_read(token)
        if advocate is None:
            return TemplateResponse(request, "rewards/own_page.html",
                                    {"invalid": True, "lang": lang}, status=404)
        message = error = ""
        if request.method == "POST":
            key = request.POST.get("key", "")
            perk = request.POST.get("perk", "")
            if not _KEY.fullmatch(key) or not perk.isdigit():
                error = _("This perk is not available.")
            else:
                try:
                    spend = points_spend(advocate_id=advocate.pk, perk_id=int(perk), key=key)
                    name = spend.fulfilment.perk.name_ja if lang == "ja" else ""
                    message = _("Done! %(perk)s is yours; we will be in touch about it.") % {
                        "perk": name or spend.fulfilment.perk.name}
                except SpendError as exc:
                    error = _refusal(exc.code)
        opt_out = OptOutPage.objects.live().public().filter(language=lang).first() \
            or OptOutPage.objects.live().public().first()
        page = own_page(advocate_id=advocate.pk)
        following = page.tier.next_tier
        perk_names = ({p.name: p.name_ja for p in [*page.perks, *(f.perk for f in page.bought)]
                       if p.name_ja} if lang == "ja" else {})
        context = {
            "lang": lang, "token": token, "advocate": advocate, "page": page,
            "history": [(e, points_entry_label(e, perk_names=perk_names))
                        for e in page.entries],
            "message": message, "error": error,
            "next_tier_name": ((following.name_ja if lang == "ja" else "") or following.name
                               if following is not None else ""),
            "key": secrets.token_urlsafe(24),
            "opt_out_url": (f"{opt_out.url}?token={opt_out_token_make(advocate)}"
                            if opt_out is not None and opt_out.url else ""),
        }
        response = TemplateResponse(request, "rewards/own_page.html", context,
                                    status=400 if error else 200)
        response.render()  # inside the language override
    response["Cache-Control"] = "no-store, private"
    # The token must not leak to other sites; "no-referrer" would also make the browser send
    # `Origin: null` on the page's own form, which CSRF rightly refuses.
    response["Referrer-Policy"] = "same-origin"
    return response

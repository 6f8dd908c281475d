"""The advocate profile: one read-first page with everything Kansha knows about a person.

It lives in `rewards` because it shows both apps (mentions and outreach from `advocates`,
points, tiers, grants and codes from here) and `advocates` may not import `rewards`. Anyone who
may see advocates (`advocates.view_advocate`) may open it; codes are masked unless the role may
see discount codes, and redemptions' amounts need the redemption permission.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from advocates.admin.advocate_list import PROFILE_URL_NAME
from advocates.admin.queue import permission_required
from advocates.models import Advocate
from advocates.services import advocate_unmergeable
from rewards import selectors
from rewards.money import money_display

PROFILE_PERMISSION = "advocates.view_advocate"
CODES_PERMISSION = "rewards.view_discountcode"
REDEMPTIONS_PERMISSION = "rewards.view_redemption"


@require_GET
@permission_required(PROFILE_PERMISSION)
def advocate_profile_view(request: HttpRequest, pk: int) -> HttpResponse:
    try:
        profile = selectors.advocate_profile(advocate_id=pk, now=timezone.now())
    except Advocate.DoesNotExist:
        raise Http404 from None
    user = request.user
    can_see_codes = user.has_perm(CODES_PERMISSION)
    codes = {g.pk: (g.code.code if can_see_codes else selectors.code_masked(g.code.code))
             for g in profile.grants if hasattr(g, "code")}
    redemptions = [{"row": r, "paid": _money(r.order_amount_minor, r.currency),
                    "discount": _money(r.discount_minor, r.currency)}
                   for r in profile.redemptions]
    return TemplateResponse(request, "rewards/admin/advocate_profile.html", {
        "page_title": str(profile.advocate), "profile": profile,
        "activity": profile.activity, "advocate": profile.advocate,
        "codes": codes, "redemptions": redemptions, "can_see_codes": can_see_codes,
        "can_see_redemptions": user.has_perm(REDEMPTIONS_PERMISSION),
        "can_opt_out": user.has_perm("advocates.change_outreach"),
        "can_merge": user.has_perm("advocates.change_advocate"),
        "can_unmerge": user.has_perm("advocates.change_advocate")
        and advocate_unmergeable(absorbed=profile.advocate),
        "can_erase": user.has_perm("advocates.delete_advocate"),
        "can_adjust": user.has_perm("rewards.add_pointsadjustment"),
        "can_use_queue": user.has_perm("advocates.change_outreach"),
    })


def _money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else money_display(amount, currency or "")


def admin_urls():
    return [path("advocates/people/<int:pk>/", advocate_profile_view, name=PROFILE_URL_NAME)]

"""Local-code redemptions for point-of-sale systems (`POST /api/v1/rewards/redemptions`,
`redeem` tokens) and the reports as JSON (`GET /api/v1/rewards/reports/<name>`,
`read-reports` tokens)."""

import json

from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.responses import Status
from pydantic import Field

from advocates.api import ApiTokenAuth, ErrorOut
from advocates.models import TokenScope
from rewards import services
from rewards.reports import ReportError, ReportParams, parse_date, report_build
from rewards.reports.exports import report_json


class RedemptionIn(Schema):
    code: str = Field(min_length=4, max_length=40)
    order_amount_minor: int = Field(gt=0, description="The order before the discount, in minor "
                                    "units of `currency` (e.g. 4200 for ¥4,200 or $42.00).")
    currency: str = Field(pattern=r"^[A-Za-z]{3}$")
    order_ref: str = Field("", max_length=191, description="The till's order id; sending it "
                           "again returns the first redemption instead of a second one.")


class RedemptionOut(Schema):
    redemption_id: int
    grant_id: int
    code: str
    discount_minor: int
    paid_minor: int
    currency: str
    created: bool


router = Router(tags=["rewards"])


@router.post("/redemptions", auth=ApiTokenAuth(TokenScope.REDEEM),
             response={200: RedemptionOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut})
def redemptions_post(request: HttpRequest, body: RedemptionIn):
    """Redeem a Kansha (local) discount code on an order. A bad code changes nothing (400)."""
    try:
        redemption, created = services.code_redeem(
            code=body.code, order_amount_minor=body.order_amount_minor,
            currency=body.currency, order_ref=body.order_ref)
    except services.RedemptionError as exc:
        return Status(400, {"detail": str(exc)})
    return Status(200, {"redemption_id": redemption.pk, "grant_id": redemption.grant_id,
                 "code": redemption.code.code, "discount_minor": redemption.discount_minor,
                 "paid_minor": redemption.order_amount_minor, "currency": redemption.currency,
                 "created": created})


@router.get("/reports/{name}", auth=ApiTokenAuth(TokenScope.READ_REPORTS),
            response={200: dict, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut})
def reports_get(request: HttpRequest, name: str, date_from: str = Query(..., alias="from"),
                date_to: str = Query(..., alias="to"), period: str = "month",
                currency: str = "", rule: int | None = None):
    """One report as JSON (the same tables as the admin and `manage.py report`): ambassador,
    redemptions, ledger, liability or reconciliation. Needs a `read-reports` token."""
    try:
        params = ReportParams(date_from=parse_date(date_from, name="from"),
                              date_to=parse_date(date_to, name="to"), period=period,
                              currency=currency, rule_id=rule)
        report = report_build(name=name, params=params)
    except ReportError as exc:
        return Status(400, {"detail": str(exc)})
    return Status(200, json.loads(report_json(report)))

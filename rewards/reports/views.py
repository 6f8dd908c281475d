"""Wagtail report views: filters, tables, SVG charts, CSV (neutralised) and XLSX export.

Each view runs one report (`report_build`) for the filtered parameters; the main table is the
paginated listing (and Wagtail's CSV export), the other tables and the charts sit above it, and
the XLSX export is the whole report, one sheet per table. Only users with
`rewards.view_reports` (Finance, Marketing) get in; other admin users get 403.
"""

from __future__ import annotations

import io
import json
import re
from datetime import timedelta
from typing import Any, cast

import django_filters
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponseForbidden
from django.http.response import HttpResponseBase
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.reports import ReportView
from wagtail.admin.widgets.button import HeaderButton

from advocates.admin.exports import SafeSpreadsheetExportMixin
from advocates.policies import PLATFORM_CHOICES
from rewards.models import Perk, ReconciliationItem, ReconciliationRun, RewardGrant, RewardRule
from rewards.money import money_display

from . import REPORT_FILTERS, Report, ReportParams, Section, reconciliation_report, report_build
from .exports import _cell, is_share_column, report_csv_zip, report_filename, report_xlsx

PERMISSION = "rewards.view_reports"
DEFAULT_DAYS = 90


def _currency_choices() -> list[tuple[str, str]]:
    currencies = set(RewardRule.objects.values_list("currency", flat=True)) | set(
        Perk.objects.values_list("currency", flat=True))
    return [(c, c.upper()) for c in sorted(currencies)]


# Wagtail ships no types: its filter set and report view are Any to mypy.
class ReportFilterSet(WagtailFilterSet):  # type: ignore[misc]
    """The filters every report takes; they only build ReportParams (no queryset filtering)."""

    date_range = django_filters.DateFromToRangeFilter(label=_("Date range"),
                                                      widget=DateRangePickerWidget)
    period = django_filters.ChoiceFilter(label=_("Group by"), empty_label=_("Month"),
                                         choices=[("week", _("Week")), ("month", _("Month"))])
    platform = django_filters.ChoiceFilter(label=_("Platform"), choices=PLATFORM_CHOICES)
    rule = django_filters.ModelChoiceFilter(label=_("Reward rule"),
                                            queryset=RewardRule.objects.order_by("name"))
    currency = django_filters.ChoiceFilter(label=_("Currency"), choices=_currency_choices)

    def filter_queryset(self, queryset: QuerySet[RewardGrant]) -> QuerySet[RewardGrant]:
        return queryset

    def params(self) -> ReportParams:
        """The report parameters; invalid or missing values fall back to the last 90 days."""
        today = timezone.now().date()
        data = self.form.cleaned_data if self.is_valid() else {}
        span = data.get("date_range")
        # The range field gives datetimes (start 00:00, stop 23:59:59.999999); the report takes
        # dates, and only one end may be given.
        date_to = (span.stop.date() if span and span.stop else today)
        date_from = (span.start.date() if span and span.start
                     else date_to - timedelta(days=DEFAULT_DAYS))
        if date_from > date_to:
            date_from, date_to = date_to, date_from
        rule = data.get("rule")
        return ReportParams(date_from=date_from, date_to=date_to,
                            period=data.get("period") or "month",
                            platform=data.get("platform") or "",
                            rule_id=rule.pk if rule else None,
                            currency=data.get("currency") or "")


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _file_response(data: bytes, filename: str, content_type: str) -> FileResponse:
    """A download with its real name. FileResponse writes Content-Disposition only for a
    file-like object (given an iterator it sends none, and browsers save `download.xlsx`)."""
    return FileResponse(io.BytesIO(data), as_attachment=True, filename=filename,
                        content_type=content_type)


ZIP = "zip"


class ReportDownloadsMixin(SafeSpreadsheetExportMixin):
    """A report's downloads: `?export=xlsx` is the whole report as one workbook (a cover with
    the filters, a sheet per table), `?export=zip` every table as its own CSV in a zip
    (`&bom=1` for Excel in Japanese), `?export=csv` Wagtail's CSV of the main table; each
    file named after the report and its dates."""

    FORMATS = ("xlsx", "csv", ZIP)
    # Provided by the Wagtail view this mixin is combined with.
    request: HttpRequest
    xlsx_export_url: str

    def export_report(self) -> Report | None:
        raise NotImplementedError

    def as_spreadsheet(self, queryset: Any, spreadsheet_format: str) -> HttpResponseBase:
        report = self.export_report()
        if report is None:  # nothing to report yet (no reconciliation run): the empty listing
            # Wagtail's SpreadsheetExportMixin, after this mixin in the view's MRO.
            response: HttpResponseBase = super().as_spreadsheet(  # type: ignore[misc]
                queryset, "csv" if spreadsheet_format == ZIP else spreadsheet_format)
            return response
        if spreadsheet_format == "csv":
            csv_response: HttpResponseBase = super().as_spreadsheet(  # type: ignore[misc]  # (as above)
                queryset, spreadsheet_format)
            return csv_response
        name = self.get_filename()
        if spreadsheet_format == ZIP:
            bom = self.request.GET.get("bom") == "1"
            return _file_response(report_csv_zip(report, bom=bom),
                                  f"{name}{'-excel' if bom else ''}.zip", "application/zip")
        return _file_response(report_xlsx(report), f"{name}.xlsx", XLSX_TYPE)

    @property
    def zip_export_url(self) -> str:
        # Wagtail's SpreadsheetExportMixin, after this mixin in the view's MRO.
        url: str = self.get_export_url(ZIP)  # type: ignore[attr-defined]
        return url

    @property
    def zip_bom_export_url(self) -> str:
        return f"{self.zip_export_url}&bom=1"

    @cached_property
    def header_more_buttons(self) -> list[HeaderButton]:
        # The downloads sit in the header, not in the "…" menu.
        return []

    @cached_property
    def header_buttons(self) -> list[HeaderButton]:
        return [HeaderButton(_("Download XLSX"), url=self.xlsx_export_url,
                             icon_name="download", attrs={"data-kansha-export": "xlsx"}),
                HeaderButton(_("Download CSV (zip)"), url=self.zip_export_url,
                             icon_name="download", attrs={"data-kansha-export": "csv"}),
                HeaderButton(_("CSV for Excel in Japanese (zip)"), url=self.zip_bom_export_url,
                             icon_name="download", attrs={"data-kansha-export": "csv-bom"})]


def _filterset_for(name: str) -> type[ReportFilterSet]:
    keep = REPORT_FILTERS[name]
    filterset = cast(type[ReportFilterSet],
                     type(f"{name.title()}FilterSet", (ReportFilterSet,), {}))
    # Set after the class exists: django-filter's metaclass collects every declared filter.
    filterset.base_filters = {k: v for k, v in filterset.base_filters.items() if k in keep}
    return filterset


def _display(value: object, column: str, row: dict[str, Any], money: dict[str, str]) -> str:
    """One number format per kind: money by currency and language, shares as percentages,
    counts with thousands separators, other measures with one decimal."""
    value = _cell(value)
    if value is None:
        return "—"
    if column in money and isinstance(value, int | float):
        return money_display(int(value), row.get(money[column]) or "")
    if is_share_column(column) and isinstance(value, int | float):
        return f"{number_format(value * 100, 1, force_grouping=True)}%"
    if isinstance(value, float):
        return number_format(value, 1, force_grouping=True)
    if isinstance(value, int) and not column.endswith("_id") and column != "rank":
        return number_format(value, force_grouping=True)
    if column == "currency" and isinstance(value, str):
        return value.upper()
    return str(value)


# Column headings on screen (exports keep the exact column names).
COLUMN_LABELS = {
    "active_advocates": _("Active advocates"), "advocates": _("Advocates"),
    "amount_codes_minor": _("Amount-off codes"), "broadcasts": _("Broadcasts"),
    "broadcasts_share": _("Broadcasts share"), "care_items": _("Care items"),
    "care_median_minutes_to_response": _("Care: median minutes to respond"),
    "care_within_sla_share": _("Care within SLA"), "codes_expired": _("Codes expired"),
    "codes_issued": _("Codes issued"), "codes_outstanding": _("Codes outstanding"),
    "codes_redeemed": _("Codes redeemed"), "consents_granted": _("Consents granted"),
    "conversations": _("Conversations"), "conversations_share": _("Conversations share"),
    "currency": _("Currency"), "demotions": _("Demotions"), "discount_minor": _("Discount"),
    "expiry_month": _("Expiry month"), "largest_gap_points": _("Largest gap (points)"),
    "max_exposure_minor": _("Maximum exposure"),
    "median_minutes_to_thank": _("Median minutes to thank"), "mentions": _("Mentions"),
    "month": _("Month"), "new_advocates": _("New advocates"),
    "order_revenue_minor": _("Order revenue"), "orders_with_code": _("Orders with a code"),
    "orders_without_code": _("Orders without a code"),
    "percent_codes_minor": _("Percent-off codes"),
    "percent_codes_uncapped": _("Percent-off codes without a cap"), "period": _("Period"),
    "perk_cost_minor": _("Perk cost"), "perk_units": _("Perk units"),
    "platform": _("Platform"), "points": _("Points"), "positive": _("Positive"),
    "positive_share": _("Positive share"), "promotions": _("Promotions"),
    "reason": _("Reason"), "redemption_rate": _("Redemption rate"),
    "redemptions": _("Redemptions"), "rejected": _("Rejected"), "replies": _("Replies"),
    "replies_share": _("Replies share"), "reshares_sent": _("Reshares sent"),
    "rule": _("Rule"), "rule_id": _("Rule id"), "share": _("Share"),
    "thanks_approved": _("Thank-yous approved"), "thanks_proposed": _("Thank-yous proposed"),
    "thanks_rejected": _("Thank-yous rejected"), "thanks_sent": _("Thank-yous sent"),
    "tier": _("Tier"), "aov_with_code_minor": _("Average order with a code"),
    "aov_without_code_minor": _("Average order without a code"),
    "cost_minor": _("Cost"), "order_minor": _("Order"), "created_at": _("Created"),
    "issued_at": _("Issued"), "expires_at": _("Expires"), "grant_id": _("Grant"),
    "advocate_id": _("Advocate"), "code": _("Code"), "provider": _("Provider"),
    "reward_kind": _("Reward"), "status": _("Status"),
    "stripe_coupon_id": _("Stripe coupon"),
    "stripe_promotion_code_id": _("Stripe promotion code"),
    "stripe_sources": _("Stripe sources"), "events": _("Acts of advocacy"),
    "handle": _("Handle"), "advocate": _("Advocate"), "orders": _("Orders"),
    "up": _("Up"), "down": _("Down"), "reversals": _("Reversals"),
    "discount_reversed_minor": _("Discount reversed"), "discount_net_minor": _("Discount (net)"),
    "order_revenue_reversed_minor": _("Order revenue reversed"),
    "order_revenue_net_minor": _("Order revenue (net)"),
    "rewarded_posts": _("Rewarded advocates' posts"), "disclosed": _("Disclosed"),
    "disclosed_share": _("Disclosed share"), "reminders": _("Reminders proposed"),
    "reminders_sent": _("Reminders sent"), "undisclosed": _("Undisclosed posts"),
    "staff": _("Staff member"), "resolved": _("Resolved"),
    "first_response_median_minutes": _("First response: median minutes"),
    "first_response_p90_minutes": _("First response: p90 minutes"),
    "resolution_median_minutes": _("Resolution: median minutes"),
    "resolution_p90_minutes": _("Resolution: p90 minutes"), "sla_hit_rate": _("SLA hit rate"),
    "resolution_sla_hit_rate": _("Resolution: SLA hit rate"),
    "fixed": _("Fixed"), "refunded": _("Refunded"), "explained": _("Explained"),
    "no_reply": _("No reply"), "not_our_fault": _("Not our fault"),
    "became_advocates": _("Became advocates"),
}
SECTION_TITLES = {
    "Activity by period and platform": _("Activity by period and platform"),
    "Care by platform": _("Care by platform"),
    "Care by staff member": _("Care by staff member"),
    "Thank-you replies rejected, by reason": _("Thank-you replies rejected, by reason"),
    "Tier distribution (today)": _("Tier distribution (today)"),
    "Tier movement": _("Tier movement"),
    "Compliance: rewarded advocates' posts and disclosure": _(
        "Compliance: rewarded advocates' posts and disclosure"),
    "Compliance: repeat undisclosed posters": _("Compliance: repeat undisclosed posters"),
    "Top advocates (by confirmed advocacy events)": _(
        "Top advocates (by confirmed advocacy events)"),
    "By month, rule, tier and currency": _("By month, rule, tier and currency"),
    "Totals per currency": _("Totals per currency"),
    "Average order value with and without a code": _(
        "Average order value with and without a code"),
    "One row per grant": _("One row per grant"),
    "Maximum exposure by month of expiry": _("Maximum exposure by month of expiry"),
    "Points outstanding (unexpired) by month of expiry": _(
        "Points outstanding (unexpired) by month of expiry"),
}
# The reports' notes (rewards/reports/), in the reader's language; the liability's first note
# carries its time, so it is matched by its start.
REPORT_NOTES = {
    "Mentions count by posting time; outreach by the time it was proposed; active advocates "
    "have at least one confirmed act of advocacy in the period.": _(
        "Mentions count by posting time; outreach by the time it was proposed; active "
        "advocates have at least one confirmed act of advocacy in the period."),
    "Time to thank: from the mention reaching Kansha to the reply being sent (median). Care: "
    "median time to the first response, and the share sent within the SLA.": _(
        "Time to thank: from the mention reaching Kansha to the reply being sent (median). "
        "Care: median time to the first response, and the share sent within the SLA."),
    "Codes issued, redeemed, expired and the redemption rate are by the month a code was "
    "issued; redemptions, discount cost and attributed order revenue are by the month of the "
    "redemption. Amounts are in minor units of their currency and are never added across "
    "currencies.": _(
        "Codes issued, redeemed, expired and the redemption rate are by the month a code was "
        "issued; redemptions, discount cost and attributed order revenue are by the month of "
        "the redemption. Amounts are never added across currencies."),
    "The per-grant ledger with Stripe ids is the 'Ledger' export.": _(
        "The per-grant ledger with Stripe ids is the Grant ledger report."),
    "Assumption for percent-off codes: a percentage has no upper bound on its own, so each "
    "counts the grant's estimate (the rule's budget estimate per grant); where that is zero, "
    "the percentage of the rule's minimum order; codes with neither are counted as "
    "'uncapped' and add nothing to the exposure.": _(
        "Assumption for percent-off codes: a percentage has no upper bound on its own, so "
        "each counts the grant's estimate (the rule's budget estimate per grant); where that "
        "is zero, the percentage of the rule's minimum order; codes with neither are counted "
        "as “without a cap” and add nothing to the exposure."),
    "Multi-use codes count each remaining use; a code with no use limit counts one.": _(
        "Multi-use codes count each remaining use; a code with no use limit counts one."),
    "Rule of thumb: about 50% replies, 30% conversations (care, consent requests, DMs), 20% "
    "broadcasts (consented reshares).": _(
        "Rule of thumb: about 50% replies, 30% conversations (care, consent requests, DMs), "
        "20% broadcasts (consented reshares)."),
    "Orders without a code are the completed Stripe Checkout sessions with no discount among "
    "the stored Stripe webhook events; orders paid elsewhere are not in Kansha and are not "
    "shown.": _(
        "Orders without a code are the completed Stripe Checkout sessions with no discount "
        "among the stored Stripe webhook events; orders paid elsewhere are not in Kansha and "
        "are not shown."),
    "Times from the person's first post or message to our first response, and to the "
    "resolution. SLA hit: the first response went out by the SLA's due time. Resolution SLA "
    "hit: resolved by the resolution due time. Became advocates: an act of advocacy within "
    "90 days of the resolution.": _(
        "Times from the person's first post or message to our first response, and to the "
        "resolution. SLA hit: the first response went out by the SLA's due time. Resolution "
        "SLA hit: resolved by the resolution due time. Became advocates: an act of advocacy "
        "within 90 days of the resolution."),
}
LIABILITY_AS_OF = _("Codes issued and delivered, not expired, revoked or used up; perks "
                    "granted but not yet delivered.")
SECTION_TITLES["Outbound balance (sent): replies / conversations / broadcasts"] = _(
    "Outbound balance (sent): replies / conversations / broadcasts")
CHART_TITLES = {"Mentions and thank-yous": _("Mentions and thank-yous"),
                "Tier distribution": _("Tier distribution")}


def _describe(params: ReportParams, filters: tuple[str, ...]) -> str:
    """The filters in force, in the reader's language (only those the report takes)."""
    parts = [str(_("%(start)s to %(end)s") % {"start": f"{params.date_from:%Y-%m-%d}",
                                               "end": f"{params.date_to:%Y-%m-%d}"})]
    if "period" in filters:
        parts.append(str(_("by week") if params.period == "week" else _("by month")))
    if params.platform:
        parts.append(str(dict(PLATFORM_CHOICES).get(params.platform, params.platform)))
    if params.rule_id:
        parts.append(str(_("rule #%(id)s") % {"id": params.rule_id}))
    if params.currency:
        parts.append(params.currency.upper())
    return ", ".join(parts)


def _note(text: str) -> str:
    if text.startswith("As of ") and "codes issued and delivered" in text:
        return str(LIABILITY_AS_OF)
    return str(REPORT_NOTES.get(text, text))


def _chart_title(title: str) -> str:
    if title in CHART_TITLES:
        return str(CHART_TITLES[title])
    for english, translated in ((r"Discount cost by month \((\w+), minor units\)",
                                 _("Discount cost by month (%(currency)s)")),
                                (r"Maximum exposure by expiry month \((\w+), minor units\)",
                                 _("Maximum exposure by expiry month (%(currency)s)"))):
        if match := re.fullmatch(english, title):
            return str(translated) % {"currency": match.group(1)}
    return title


REPORT_TITLES = {"ambassador": _("Ambassador program"), "redemptions": _("Redemptions"),
                 "ledger": _("Grant ledger"), "liability": _("Liability")}


def _label(column: str) -> str:
    """A column's heading on screen (exports keep the exact column names); a time's says it
    is UTC, as the queries write it."""
    if column in COLUMN_LABELS:
        label = str(COLUMN_LABELS[column])
    else:
        label = column.removesuffix("_minor").replace("_", " ").capitalize()
    return f"{label} (UTC)" if column.endswith("_at") else label


def _title(title: str) -> str:
    """A section's title in the reader's language (balance titles carry their own words)."""
    return str(SECTION_TITLES.get(title, title))


def _rows(section: Section) -> list[dict[str, Any]]:
    """Frame rows as dicts: raw values for export, formatted ones under '_display'."""
    columns = list(section.frame.columns)
    rows = []
    for values in section.frame.itertuples(index=False, name=None):
        row = {c: _cell(v) for c, v in zip(columns, values, strict=True)}
        row["_display"] = {c: _display(row[c], c, row, section.money) for c in columns}
        rows.append(row)
    return rows


class KanshaReportView(ReportDownloadsMixin, ReportView):  # type: ignore[misc]  # (Any base)
    """A report page for one of rewards.reports.REPORTS."""

    report_name = ""
    index_url_name = ""
    index_results_url_name = ""
    template_name = "rewards/reports/report.html"
    results_template_name = "rewards/reports/report_results.html"
    filterset_class = ReportFilterSet
    paginate_by = 100
    section_page_size = 20
    header_icon = "table"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        # Admin access is checked by Wagtail's admin URL wrapper (anonymous → login). A
        # PermissionDenied would be turned into a redirect to the dashboard; staff without the
        # permission get a plain 403 instead.
        if not request.user.has_perm(PERMISSION):
            return HttpResponseForbidden(_("Reports are for finance and marketing."))
        response: HttpResponseBase = super().dispatch(request, *args, **kwargs)
        return response

    def get_filterset_kwargs(self) -> dict[str, Any]:
        return {**super().get_filterset_kwargs(), "queryset": RewardGrant.objects.none()}

    @cached_property
    def report(self) -> Report:
        params = self.filters.params() if self.filters else ReportFilterSet({}).params()
        return report_build(name=self.report_name, params=params)

    @property
    def list_export(self) -> list[str]:  # Wagtail reads the exported columns from here
        return list(self.report.main.frame.columns)

    @cached_property
    def columns(self) -> list[Column]:
        return [Column(c, label=_label(c), accessor=f"_display.{c}",
                       classname="kansha-num" if self._numeric(c) else "")
                for c in self.report.main.frame.columns]

    def _numeric(self, column: str) -> bool:
        return str(self.report.main.frame[column].dtype) in ("int64", "float64")

    def get_queryset(self) -> list[dict[str, Any]]:
        return _rows(self.report.main)

    def get_filename(self) -> str:
        return report_filename(self.report)

    def export_report(self) -> Report:
        return self.report

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        report = self.report
        context["report"] = report
        # The SVG is built by charts.py, every label escaped.
        context["charts"] = [(_chart_title(title), mark_safe(svg))  # noqa: S308
                             for title, svg in report.charts]
        context["sections"] = [self._section(key, s) for key, s in report.sections.items()
                               if key != report.primary]
        context["main_title"] = _title(report.main.title)
        context["notes"] = [_note(note) for note in report.notes]
        context["describe"] = _describe(report.params, REPORT_FILTERS[self.report_name])
        context["main_count"] = len(report.main.frame)
        context["uses_dates"] = "date_range" in REPORT_FILTERS[self.report_name]
        context["as_of"] = date_format(timezone.localtime(), "DATETIME_FORMAT")
        return context

    def _section(self, key: str, section: Section) -> dict[str, Any]:
        """A table above the main one, with its own pagination (?<key>_page=N)."""
        rows = _rows(section)
        numeric = {c for c in section.frame.columns
                   if str(section.frame[c].dtype) in ("int64", "float64")}
        paginator = Paginator(rows, self.section_page_size)
        page = paginator.get_page(self.request.GET.get(f"{key}_page"))
        query = self.request.GET.copy()

        def link(number: int) -> str:
            query[f"{key}_page"] = str(number)
            return f"{self.index_url}?{query.urlencode()}#section-{key}"

        return {
            "key": key, "title": _title(section.title),
            "note": _note(section.note) if section.note else "",
            "columns": [(_label(c), c in numeric) for c in section.frame.columns],
            "rows": [[(r["_display"][c], c in numeric) for c in section.frame.columns]
                     for r in page.object_list],
            "count": len(rows), "page": page,
            "previous": link(page.previous_page_number()) if page.has_previous() else "",
            "next": link(page.next_page_number()) if page.has_next() else "",
        }

    @property
    def index_url(self) -> str:
        return reverse(self.index_url_name)

    @property
    def index_results_url(self) -> str:
        return reverse(self.index_results_url_name)


def _view(name: str) -> type[KanshaReportView]:
    return type(f"{name.title()}ReportView", (KanshaReportView,), {
        "report_name": name, "page_title": REPORT_TITLES[name],
        "filterset_class": _filterset_for(name),
        "index_url_name": f"kansha_reports:{name}",
        "index_results_url_name": f"kansha_reports:{name}_results",
    })


AmbassadorReportView = _view("ambassador")
RedemptionReportView = _view("redemptions")
LedgerReportView = _view("ledger")
LiabilityReportView = _view("liability")

VIEWS = {"ambassador": AmbassadorReportView, "redemptions": RedemptionReportView,
         "ledger": LedgerReportView, "liability": LiabilityReportView}


# --- Reconciliation with Stripe ------------------------------------------------------------

RECONCILIATION_PERMISSION = "rewards.view_reconciliationrun"


def _latest_run() -> ReconciliationRun | None:
    return ReconciliationRun.objects.filter(status=ReconciliationRun.Status.DONE).first()


class ReconciliationFilterSet(WagtailFilterSet):  # type: ignore[misc]  # (Any base)
    run = django_filters.ModelChoiceFilter(
        label="Run", queryset=ReconciliationRun.objects.all(), method="filter_run",
        empty_label="Latest completed run")
    kind = django_filters.ChoiceFilter(label="Outcome",
                                       choices=ReconciliationItem.Kind.choices)
    object_type = django_filters.ChoiceFilter(label="Stripe object",
                                              choices=ReconciliationItem.ObjectType.choices)

    class Meta:
        model = ReconciliationItem
        fields = ["run", "kind", "object_type"]

    def filter_run(self, queryset: QuerySet[ReconciliationItem], name: str,
                   value: ReconciliationRun | None) -> QuerySet[ReconciliationItem]:
        return queryset  # the view reads the run itself (default: the latest)


def _item_link(item: ReconciliationItem) -> str:
    return format_html('<a href="{}">{}</a>', reverse("kansha_reports:reconciliation_item",
                                                      args=[item.pk]),
                       item.stripe_id or f"item #{item.pk}")


class ReconciliationReportView(ReportDownloadsMixin, ReportView):  # type: ignore[misc]  # (Any)
    """Finance's view of a reconciliation run: counts per outcome, then every item (filter by
    outcome or object), each opening a drill-down with both sides. The XLSX export is the
    run's workbook (rewards.reports.reconciliation_report)."""

    page_title = "Reconciliation with Stripe"
    header_icon = "tasks"
    template_name = "rewards/reports/report.html"
    results_template_name = "rewards/reports/reconciliation_results.html"
    filterset_class = ReconciliationFilterSet
    paginate_by = 100
    index_url_name = "kansha_reports:reconciliation"
    index_results_url_name = "kansha_reports:reconciliation_results"
    list_export = ["id", "kind", "object_type", "stripe_id", "code", "grant_id",
                   "redemption_id", "currency", "detail"]
    columns = [
        Column("kind", label="Outcome", accessor="get_kind_display"),
        Column("object_type", label="Stripe object", accessor="get_object_type_display"),
        Column("stripe_id", label="Stripe id", accessor=_item_link),
        Column("code", label="Code"),
        Column("currency", label="Currency"),
        Column("detail", label="What differs"),
    ]

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        if not request.user.has_perm(RECONCILIATION_PERMISSION):
            return HttpResponseForbidden("Reconciliation is for finance.")
        response: HttpResponseBase = super().dispatch(request, *args, **kwargs)
        return response

    @cached_property
    def run(self) -> ReconciliationRun | None:
        wanted = self.request.GET.get("run", "")
        if wanted.isdigit():
            return ReconciliationRun.objects.filter(pk=int(wanted)).first()
        return _latest_run()

    def get_queryset(self) -> QuerySet[ReconciliationItem]:
        if self.run is None:
            return ReconciliationItem.objects.none()
        return self.run.items.select_related("code").order_by("object_type", "kind", "id")

    def get_filename(self) -> str:
        run = self.run
        if run is None:
            return "kansha-reconciliation"
        return (f"kansha-reconciliation-{run.date_from:%Y-%m-%d}-{run.date_to:%Y-%m-%d}"
                f"-run{run.pk}")

    def export_report(self) -> Report | None:
        return reconciliation_report(self.run) if self.run is not None else None

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context: dict[str, Any] = super().get_context_data(**kwargs)
        context["run"] = self.run
        if self.run is not None:
            summary = reconciliation_report(self.run).sections["summary"]
            context["summary"] = {"columns": [_label(c) for c in summary.frame.columns],
                                  "rows": [[r["_display"][c] for c in summary.frame.columns]
                                           for r in _rows(summary)]}
        return context

    @property
    def index_url(self) -> str:
        return reverse(self.index_url_name)

    @property
    def index_results_url(self) -> str:
        return reverse(self.index_results_url_name)


def reconciliation_item(request: HttpRequest, item_id: int) -> HttpResponseBase:
    """The drill-down: one compared object, Kansha's side and Stripe's side as they were read,
    with links to our code, grant and redemption."""
    if not request.user.has_perm(RECONCILIATION_PERMISSION):
        return HttpResponseForbidden("Reconciliation is for finance.")
    item = get_object_or_404(ReconciliationItem.objects.select_related(
        "run", "code", "grant", "redemption"), pk=item_id)
    links = []
    if item.code_id:
        links.append(("Code " + item.code.code if item.code else "Code",
                      reverse("wagtailsnippets_rewards_discountcode:inspect", args=[item.code_id])))
    if item.grant_id:
        links.append((f"Grant #{item.grant_id}",
                      reverse("wagtailsnippets_rewards_rewardgrant:inspect", args=[item.grant_id])))
    if item.redemption_id:
        links.append((f"Redemption #{item.redemption_id}",
                      reverse("wagtailsnippets_rewards_redemption:inspect",
                              args=[item.redemption_id])))
    return TemplateResponse(request, "rewards/reports/reconciliation_item.html", {
        "item": item, "links": links,
        "ours": json.dumps(item.ours, indent=2, ensure_ascii=False, sort_keys=True),
        "theirs": json.dumps(item.theirs, indent=2, ensure_ascii=False, sort_keys=True),
        "back": reverse("kansha_reports:reconciliation") + f"?run={item.run_id}"})


def admin_urls() -> list[URLPattern]:
    urls = []
    views: dict[str, type[KanshaReportView] | type[ReconciliationReportView]] = {
        **VIEWS, "reconciliation": ReconciliationReportView}
    for name, view in views.items():
        urls += [path(f"{name}/", view.as_view(), name=name),
                 path(f"{name}/results/", view.as_view(results_only=True),
                      name=f"{name}_results")]
    urls.append(path("reconciliation/item/<int:item_id>/", reconciliation_item,
                     name="reconciliation_item"))
    return urls

"""Wagtail report views: filters, tables, SVG charts, CSV (neutralised) and XLSX export.

Each view runs one report (`report_build`) for the filtered parameters; the main table is the
paginated listing (and Wagtail's CSV export), the other tables and the charts sit above it, and
the XLSX export is the whole report, one sheet per table. Only users with
`rewards.view_reports` (Finance, Marketing) get in; other admin users get 403.
"""

from __future__ import annotations

from datetime import timedelta

import django_filters
from django.http import FileResponse, HttpResponseForbidden
from django.urls import path, reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.safestring import mark_safe
from wagtail.admin.filters import DateRangePickerWidget, WagtailFilterSet
from wagtail.admin.ui.tables import Column
from wagtail.admin.views.reports import ReportView

from advocates.policies import PLATFORM_CHOICES
from rewards.models import Perk, RewardGrant, RewardRule
from rewards.money import money_format

from . import ReportParams, report_build
from .exports import _cell, neutralise, report_xlsx

PERMISSION = "rewards.view_reports"
DEFAULT_DAYS = 90


def _currency_choices() -> list[tuple[str, str]]:
    currencies = set(RewardRule.objects.values_list("currency", flat=True)) | set(
        Perk.objects.values_list("currency", flat=True))
    return [(c, c.upper()) for c in sorted(currencies)]


class ReportFilterSet(WagtailFilterSet):
    """The filters every report takes; they only build ReportParams (no queryset filtering)."""

    date_range = django_filters.DateFromToRangeFilter(label="Date range",
                                                      widget=DateRangePickerWidget)
    period = django_filters.ChoiceFilter(label="Group by", empty_label="Month",
                                         choices=[("week", "Week"), ("month", "Month")])
    platform = django_filters.ChoiceFilter(label="Platform", choices=PLATFORM_CHOICES)
    rule = django_filters.ModelChoiceFilter(label="Reward rule",
                                            queryset=RewardRule.objects.order_by("name"))
    currency = django_filters.ChoiceFilter(label="Currency", choices=_currency_choices)

    def filter_queryset(self, queryset):
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


def _display(value, column: str, row: dict, money: dict[str, str]) -> str:
    value = _cell(value)
    if value is None:
        return "—"
    if column in money and isinstance(value, int):
        return money_format(value, row.get(money[column]) or "")
    if isinstance(value, float):
        if column.endswith(("_share", "_rate")):
            return f"{value:.1%}"
        return f"{value:,.1f}"
    if isinstance(value, int) and not column.endswith("_id") and column != "rank":
        return f"{value:,}"
    return str(value)


def _label(column: str) -> str:
    """A column's heading on screen (exports keep the exact column names)."""
    return column.removesuffix("_minor").replace("_", " ")


def _rows(section) -> list[dict]:
    """Frame rows as dicts: raw values for export, formatted ones under '_display'."""
    columns = list(section.frame.columns)
    rows = []
    for values in section.frame.itertuples(index=False, name=None):
        row = {c: _cell(v) for c, v in zip(columns, values, strict=True)}
        row["_display"] = {c: _display(row[c], c, row, section.money) for c in columns}
        rows.append(row)
    return rows


class KanshaReportView(ReportView):
    """A report page for one of rewards.reports.REPORTS."""

    report_name = ""
    index_url_name = ""
    index_results_url_name = ""
    template_name = "rewards/reports/report.html"
    results_template_name = "rewards/reports/report_results.html"
    filterset_class = ReportFilterSet
    paginate_by = 100
    header_icon = "table"

    def dispatch(self, request, *args, **kwargs):
        # Admin access is checked by Wagtail's admin URL wrapper (anonymous → login). A
        # PermissionDenied would be turned into a redirect to the dashboard; staff without the
        # permission get a plain 403 instead.
        if not request.user.has_perm(PERMISSION):
            return HttpResponseForbidden("Reports are for finance and marketing.")
        return super().dispatch(request, *args, **kwargs)

    def get_filterset_kwargs(self):
        return {**super().get_filterset_kwargs(), "queryset": RewardGrant.objects.none()}

    @cached_property
    def report(self):
        params = self.filters.params() if self.filters else ReportFilterSet({}).params()
        return report_build(name=self.report_name, params=params)

    @property
    def list_export(self):  # Wagtail reads the exported columns from here
        return list(self.report.main.frame.columns)

    @cached_property
    def columns(self):
        return [Column(c, label=_label(c),
                       accessor=f"_display.{c}") for c in self.report.main.frame.columns]

    def get_queryset(self):
        return _rows(self.report.main)

    def get_filename(self):
        p = self.report.params
        return f"kansha-{self.report.name}-{p.date_from:%Y%m%d}-{p.date_to:%Y%m%d}"

    # Export: CSV through Wagtail's writer, every text cell neutralised against formulas.
    def preprocess_field_value(self, field, value, export_format):
        value = super().preprocess_field_value(field, value, export_format)
        return neutralise(value) if export_format == self.FORMAT_CSV else value

    def get_heading(self, queryset, field):
        return neutralise(super().get_heading(queryset, field))

    def write_xlsx_response(self, queryset):
        """The whole report (every table, the filters and the notes), not only the listing."""
        return FileResponse(
            iter([report_xlsx(self.report)]), as_attachment=True,
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            filename=f"{self.get_filename()}.xlsx")

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        report = self.report
        context["report"] = report
        context["charts"] = [(title, mark_safe(svg)) for title, svg in report.charts]  # noqa: S308 -- built by charts.py, every label escaped
        context["sections"] = [
            {"title": s.title, "note": s.note,
             "columns": [_label(c) for c in s.frame.columns],
             "rows": [[r["_display"][c] for c in s.frame.columns] for r in _rows(s)]}
            for key, s in report.sections.items() if key != report.primary]
        context["main_title"] = report.main.title
        return context

    @property
    def index_url(self):
        return reverse(self.index_url_name)

    @property
    def index_results_url(self):
        return reverse(self.index_results_url_name)


def _view(name: str, title: str) -> type[KanshaReportView]:
    return type(f"{name.title()}ReportView", (KanshaReportView,), {
        "report_name": name, "page_title": title,
        "index_url_name": f"kansha_reports:{name}",
        "index_results_url_name": f"kansha_reports:{name}_results",
    })


AmbassadorReportView = _view("ambassador", "Ambassador program")
RedemptionReportView = _view("redemptions", "Redemptions")
LedgerReportView = _view("ledger", "Grant ledger")
LiabilityReportView = _view("liability", "Liability")

VIEWS = {"ambassador": AmbassadorReportView, "redemptions": RedemptionReportView,
         "ledger": LedgerReportView, "liability": LiabilityReportView}


def admin_urls():
    urls = []
    for name, view in VIEWS.items():
        urls += [path(f"{name}/", view.as_view(), name=name),
                 path(f"{name}/results/", view.as_view(results_only=True),
                      name=f"{name}_results")]
    return urls

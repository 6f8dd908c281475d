"""The admin home, one dashboard per role: what each person opens Kansha for.

Social staff see the queue (care overdue and due soon, every tab's count, today's decisions);
marketing sees the programme's health (active advocates, thank-yous sent, this month's top
advocates, perks running low, rules awaiting finance); finance sees what waits for them
(grants and rules to approve), this month's redemptions and discount cost, and the liability
now. Every number links to the filtered list or report behind it. Who sees which follows the
permissions a role holds (a superuser sees all three), not the group's name.

Each panel is a Wagtail home-page Component built from `Section`s: a title, a few counters
(`Card`) and an optional list (`Item`), rendered by one template.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import get_language, gettext_lazy, ngettext
from django.utils.translation import gettext as _
from wagtail.admin.auth import user_has_any_page_permission
from wagtail.admin.ui.components import Component

from advocates import selectors as advocate_selectors
from rewards import selectors as reward_selectors
from rewards.money import money_display
from rewards.reports import ReportParams, report_build

QUEUE_PERMISSION = "advocates.change_outreach"
MARKETING_PERMISSION = "rewards.change_rewardrule"
FINANCE_PERMISSION = "rewards.change_rewardgrant"
REPORTS_PERMISSION = "rewards.view_reports"


@dataclass(frozen=True)
class Card:
    value: str
    label: str
    url: str = ""
    tone: str = ""  # "critical", "warning" or "" (the card's colour)


@dataclass(frozen=True)
class Item:
    text: str
    url: str = ""
    meta: str = ""


@dataclass(frozen=True)
class Section:
    title: str
    cards: list[Card] = field(default_factory=list)
    items: list[Item] = field(default_factory=list)
    empty: str = ""  # shown when there are no cards and no items
    link: Item | None = None  # "see all" under the section
    wide: bool = False  # a full row of the panel


def _url(name: str, *args, **params) -> str:
    base = reverse(name, args=args)
    query = {k: v for k, v in params.items() if v is not None}
    return f"{base}?{urlencode(query)}" if query else base


def _n(value: int) -> str:
    return number_format(value, force_grouping=True)


def _month_span(today: date) -> tuple[date, date]:
    start = today.replace(day=1)
    end = (start + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    return start, end


class RoleDashboard(Component):
    name = "kansha_dashboard"
    template_name = "cms/dashboard/panel.html"
    heading: Any = ""
    icon = "home"

    def __init__(self, request, now: datetime | None = None):
        self.request = request
        self.now = now or timezone.now()

    def sections(self) -> list[Section]:
        raise NotImplementedError

    def get_context_data(self, parent_context=None):
        return {"heading": self.heading, "icon": self.icon, "sections": self.sections(),
                "panel_id": self.name}


class SocialStaffDashboard(RoleDashboard):
    name = "kansha_social"
    order = 10
    heading = gettext_lazy("Your queue")
    icon = "tasks"

    def sections(self) -> list[Section]:
        user = self.request.user
        counts = advocate_selectors.outreach_queue_counts(now=self.now)
        proposed = advocate_selectors.QueueFilters()
        tabs = advocate_selectors.outreach_tab_counts(filters=proposed, user=user, now=self.now)
        today = advocate_selectors.outreach_decisions_today(user=user, now=self.now)
        queue = "kansha_outreach:queue"
        care = Section(_("Care"), cards=[
            Card(_n(counts.overdue_care), _("overdue"),
                 _url(queue, tab="care", sla="overdue"),
                 "critical" if counts.overdue_care else ""),
            Card(_n(counts.due_soon_care), _("due within the hour"),
                 _url(queue, tab="care", sla="due_soon"),
                 "warning" if counts.due_soon_care else ""),
            Card(_n(counts.pending_care), _("waiting in all"), _url(queue, tab="care")),
        ])
        waiting = Section(_("Waiting for a decision"), wide=True, cards=[
            Card(_n(tabs[key]), str(label), _url(queue, tab=key))
            for key, (label, _q) in advocate_selectors.QUEUE_TABS.items()])
        decided = Section(_("Today's decisions"), cards=[
            Card(_n(today.approved), _("approved"),
                 _url(queue, status="", decided="today")),
            Card(_n(today.rejected), _("rejected"),
                 _url(queue, status="rejected", decided="today")),
            Card(_n(today.mine), _("by you"),
                 _url(queue, status="", decided="today", assignee=None)),
        ])
        return [care, decided, waiting]


class MarketingDashboard(RoleDashboard):
    name = "kansha_marketing"
    order = 20
    heading = gettext_lazy("Programme health")
    icon = "pick"

    def sections(self) -> list[Section]:
        activity = advocate_selectors.programme_activity(now=self.now)
        reports = self.request.user.has_perm(REPORTS_PERMISSION)
        start, end = _month_span(timezone.localdate(self.now))
        this_month = {"date_range_from": f"{start:%Y-%m-%d}", "date_range_to": f"{end:%Y-%m-%d}"}
        ambassador = _url("kansha_reports:ambassador", **this_month) if reports else ""
        activity_section = Section(_("Advocates"), cards=[
            Card(_n(activity.active_advocates), _("active in the last 30 days"),
                 _url("kansha_reports:ambassador") if reports else ""),
            Card(_n(activity.thank_yous_sent), _("thank-yous sent this month"), ambassador),
        ])
        top = Section(
            _("Top advocates this month"),
            items=[Item(str(advocate), ambassador, ngettext("%(n)s act of advocacy",
                                                            "%(n)s acts of advocacy", n)
                        % {"n": _n(n)})
                   for advocate, n in activity.top_advocates],
            empty=_("No advocacy recorded this month yet."))
        low = list(reward_selectors.perks_low_stock())
        perks = Section(
            _("Perks running low"),
            items=[Item(perk.name_in(get_language()),
                        reverse("wagtailsnippets_rewards_perk:edit", args=[perk.pk]),
                        ngettext("%(n)s left", "%(n)s left", perk.stock or 0)
                        % {"n": _n(perk.stock or 0)}) for perk in low],
            empty=_("Every perk is well stocked."))
        awaiting = list(reward_selectors.rules_awaiting_finance())
        rules = Section(
            _("Rules awaiting finance"),
            items=[Item(rule.name, reverse("wagtailsnippets_rewards_rewardrule:edit",
                                           args=[rule.pk])) for rule in awaiting],
            empty=_("No rule is waiting for finance's sign-off."),
            link=Item(_("All reward rules"), reverse("wagtailsnippets_rewards_rewardrule:list")))
        sections = [activity_section, top, perks, rules]
        waiting = reward_selectors.grants_awaiting_private_channel()
        if waiting.exists():
            sections.append(Section(
                _("Rewards waiting for a private channel"),
                items=[Item(f"{grant.rule} → {grant.advocate}",
                            reverse("wagtailsnippets_rewards_rewardgrant:inspect",
                                    args=[grant.pk]),
                            _("answerable only in public (a review, a check-in): give it in "
                              "person or once they can be messaged"))
                       for grant in waiting[:5]]))
        return sections


class FinanceDashboard(RoleDashboard):
    name = "kansha_finance"
    order = 30
    heading = gettext_lazy("Finance")
    icon = "table"

    def sections(self) -> list[Section]:
        pending = reward_selectors.grants_pending_approval().count()
        rules = reward_selectors.rules_awaiting_finance().count()
        approvals = Section(_("Approvals waiting"), cards=[
            Card(_n(pending), _("grants to approve"),
                 _url("wagtailsnippets_rewards_rewardgrant:list", status="pending_approval"),
                 "warning" if pending else ""),
            Card(_n(rules), _("reward rules to review"),
                 _url("wagtailsnippets_rewards_rewardrule:list", state="in_review"),
                 "warning" if rules else ""),
        ])
        today = timezone.localdate(self.now)
        start, end = _month_span(today)
        since = timezone.make_aware(datetime.combine(start, datetime.min.time()))
        month = {"date_range_from": f"{start:%Y-%m-%d}", "date_range_to": f"{end:%Y-%m-%d}"}
        totals = reward_selectors.redemptions_totals(since=since)
        redemptions_url = _url("kansha_reports:redemptions", **month)
        redemptions = Section(
            _("Redemptions this month"),
            cards=[card for t in totals for card in (
                Card(_n(t.redemptions), _("redemptions (%(currency)s)")
                     % {"currency": t.currency.upper()}, redemptions_url),
                Card(money_display(t.discount_minor, t.currency), _("discount cost"),
                     redemptions_url))],
            empty=_("No code was redeemed this month yet."),
            link=Item(_("Redemption report"), redemptions_url))
        liability = report_build(name="liability", params=ReportParams(
            date_from=today, date_to=today)).sections["totals"].frame
        liability_url = reverse("kansha_reports:liability")
        exposure = Section(
            _("Liability now"),
            cards=[Card(money_display(int(row.max_exposure_minor), row.currency),
                        _("most the open codes and perks can still cost"), liability_url)
                   for row in liability.itertuples()],
            empty=_("No code or perk is outstanding."),
            link=Item(_("Liability report"), liability_url))
        return [approvals, redemptions, exposure]


def uses_pages(user) -> bool:
    """Marketing edits the public pages; social staff and finance never do."""
    return user_has_any_page_permission(user)


def role_dashboards(request) -> list[RoleDashboard]:
    user = request.user
    panels: list[RoleDashboard] = []
    if user.has_perm(QUEUE_PERMISSION):
        panels.append(SocialStaffDashboard(request))
    if user.has_perm(MARKETING_PERMISSION):
        panels.append(MarketingDashboard(request))
    if user.has_perm(FINANCE_PERMISSION) and user.has_perm(REPORTS_PERMISSION):
        panels.append(FinanceDashboard(request))
    return panels

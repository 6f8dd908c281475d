"""The advocates list: who each person is (handles), how they stand, and whether someone is
waiting on us (open care items); searched by name, handle or identity, filtered by platform,
flagged and opted out.

Tier and points live in `rewards`, which this app may not import. `rewards` adds its columns
and filters through the `kansha_advocate_list` hook: a function returning an
`AdvocateListExtension`. The list stays whole without it (an install without rewards).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import django_filters
from django.db.models import Exists, OuterRef, QuerySet
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from wagtail import hooks
from wagtail.admin.filters import WagtailFilterSet
from wagtail.admin.ui.tables import Column, TitleColumn

from advocates import selectors
from advocates.admin.snippets import KanshaIndexView
from advocates.models import Advocate, SocialIdentity
from advocates.policies import PLATFORM_CHOICES

LIST_HOOK = "kansha_advocate_list"
PROFILE_URL_NAME = "kansha_advocate_profile"


@dataclass(frozen=True)
class AdvocateListExtension:
    """What another app adds to the list: annotations, columns and filters."""

    annotate: Callable[[QuerySet[Advocate]], QuerySet[Advocate]] = lambda qs: qs
    columns: Sequence[Column] = ()
    filters: dict[str, django_filters.Filter] = field(default_factory=dict)


def list_extensions() -> list[AdvocateListExtension]:
    return [fn() for fn in hooks.get_hooks(LIST_HOOK)]


class AdvocateFilterSet(WagtailFilterSet):
    platform = django_filters.ChoiceFilter(
        label=_("Platform"), choices=PLATFORM_CHOICES, method="filter_platform")
    opted_out = django_filters.BooleanFilter(
        label=_("Opted out"), field_name="opted_out_at", lookup_expr="isnull", exclude=True)

    class Meta:
        model = Advocate
        fields = ["flagged", "is_employee"]

    def filter_platform(self, queryset, name, value):
        # EXISTS, not a join: one row per person however many identities they have there.
        there = SocialIdentity.objects.filter(advocate=OuterRef("pk"), platform=value)
        return queryset.filter(Exists(there)) if value else queryset


def _handles(advocate: Advocate) -> str:
    identities = advocate.identities.all()  # prefetched, ordered by platform
    if not identities:
        return "—"
    return format_html_join(
        ", ", "{} <span class=\"w-text-grey-400\">{}</span>",
        ((i.handle or i.platform_user_id, i.get_platform_display()) for i in identities))


def _last_mention(advocate: Advocate) -> str:
    at = getattr(advocate, "last_mention_at", None)
    return date_format(at, "SHORT_DATETIME_FORMAT") if at else "—"


def _open_care(advocate: Advocate) -> str:
    n = getattr(advocate, "open_care", 0)
    if not n:
        return "—"
    return format_html('<span class="kansha-care-count" title="{}">{}</span>',
                       _("Care items waiting for an answer"), n)


class AdvocateIndexView(KanshaIndexView):
    """The list, with the columns and filters other apps add (`kansha_advocate_list`). A name
    opens the person's profile (a read-first page), not the edit form."""

    @cached_property
    def _extensions(self) -> list[AdvocateListExtension]:
        return list_extensions()

    @cached_property
    def filters(self):
        extra = {k: v for ext in self._extensions for k, v in ext.filters.items()}
        filterset_class = type("AdvocateFilterSet", (AdvocateFilterSet,), extra)
        return filterset_class(**self.get_filterset_kwargs())

    def get_base_queryset(self):
        qs = selectors.advocate_list_annotate(super().get_base_queryset())
        for ext in self._extensions:
            qs = ext.annotate(qs)
        return qs

    def search_queryset(self, queryset):
        return selectors.advocate_search(queryset, self.search_query) if self.is_searching \
            else queryset

    def _get_title_column(self, field_name, column_class=TitleColumn, **kwargs):
        column_class = self._get_title_column_class(column_class)
        return column_class("name", label=_("Name"), accessor=str,
                            get_url=lambda a: reverse(PROFILE_URL_NAME, args=[a.pk]), **kwargs)

    @cached_property
    def columns(self):
        # Other apps' columns go right after the handles.
        columns = list(super().columns)
        at = next(i for i, c in enumerate(columns) if c.name == "handles") + 1
        columns[at:at] = [c for ext in self._extensions for c in ext.columns]
        return columns


LIST_DISPLAY = [
    "__str__",
    Column("handles", label=_("Handles"), accessor=_handles),
    Column("last_mention", label=_("Last mention"), accessor=_last_mention),
    Column("open_care", label=_("Open care items"), accessor=_open_care),
    Column("flagged", label=_("Flagged"), accessor=lambda a: _("yes") if a.flagged else ""),
    Column("opted_out", label=_("Opted out"),
           accessor=lambda a: date_format(a.opted_out_at, "SHORT_DATE_FORMAT")
           if a.opted_out_at else ""),
]

"""What a report is asked for (the filters) and what it gives back (named frames).

Kept free of pandas-heavy logic so views, the command and the e-mail share one shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PERIODS = ("week", "month")
# Dates a report may cover: no Kansha data is older, and the far ends of the calendar break
# date arithmetic (the day after 9999-12-31 does not exist).
EARLIEST = date(2000, 1, 1)
LATEST = date(2999, 12, 31)
FORMATS = ("csv", "xlsx", "json", "zip", "zip-bom")
# The filters each report uses: a filter the report ignores is neither offered nor listed on
# its cover (the liability is "as of now", so it takes no dates; redemptions are by month).
REPORT_FILTERS = {
    "ambassador": ("date_range", "period", "platform"),
    "redemptions": ("date_range", "rule", "currency"),
    "ledger": ("date_range", "rule", "currency"),
    "liability": ("rule", "currency"),
    "reconciliation": ("date_range",),
}


class ReportError(ValueError):
    """Bad report input (dates, period, format): nothing was computed or written."""


@dataclass(frozen=True)
class ReportParams:
    """The filters every report accepts. `date_to` is inclusive (a whole UTC day)."""

    date_from: date
    date_to: date
    period: str = "month"
    platform: str = ""
    rule_id: int | None = None
    currency: str = ""

    def __post_init__(self) -> None:
        for name, value in (("start", self.date_from), ("end", self.date_to)):
            if not EARLIEST <= value <= LATEST:
                raise ReportError(f"The {name} date {value} is outside {EARLIEST.year}–"
                                  f"{LATEST.year}.")
        if self.date_to < self.date_from:
            raise ReportError(f"The end date {self.date_to} is before the start {self.date_from}.")
        if self.period not in PERIODS:
            raise ReportError(f"Period must be one of {', '.join(PERIODS)}, not {self.period!r}.")
        if self.currency and (len(self.currency) != 3 or not self.currency.isalpha()):
            raise ReportError(f"Currency must be a three-letter ISO code, not {self.currency!r}.")
        object.__setattr__(self, "currency", self.currency.lower())

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """Exclusive end: midnight after `date_to` (UTC)."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    def describe(self) -> str:
        parts = [f"{self.date_from:%Y-%m-%d} to {self.date_to:%Y-%m-%d}", f"by {self.period}"]
        if self.platform:
            parts.append(f"platform {self.platform}")
        if self.rule_id:
            parts.append(f"rule #{self.rule_id}")
        if self.currency:
            parts.append(self.currency.upper())
        return ", ".join(parts)


def parse_date(value: str, *, name: str) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise ReportError(f"{name} must be a date as YYYY-MM-DD, not {value!r}.") from None


@dataclass
class Section:
    """One table of a report. `money` maps a money column to the column holding its currency."""

    key: str
    title: str
    frame: pd.DataFrame  # imported for type checking only, so this module stays import-light
    money: dict[str, str] = field(default_factory=dict)
    note: str = ""


@dataclass
class Report:
    name: str
    title: str
    params: ReportParams
    sections: dict[str, Section]
    primary: str
    notes: list[str] = field(default_factory=list)
    charts: list[tuple[str, str]] = field(default_factory=list)  # (title, svg markup)
    # The filters used, as (label, value) for the export's cover (report_build fills it).
    filters: list[tuple[str, Any]] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def main(self) -> Section:
        return self.sections[self.primary]

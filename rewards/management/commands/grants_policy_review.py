"""`manage.py grants_policy_review [--since 2026-01-01]`: past grants today's rules refuse."""

from __future__ import annotations

from datetime import UTC, date, datetime

from django.core.management.base import BaseCommand, CommandError

from rewards.selectors import grants_refused_by_policy


class Command(BaseCommand):
    help = ("List past reward grants that the review-incentive checks would refuse today: "
            "rules tied to a review or rating (FTC 16 CFR 465.4), grants fired by a review, "
            "grants that needed reviews on a platform forbidding review incentives (Google). "
            "Read-only: grants are not touched; finance decides what to do with each.")

    def add_arguments(self, parser):
        parser.add_argument("--since", help="YYYY-MM-DD (UTC): only grants made from that day")

    def handle(self, *args, since=None, **options):
        start = None
        if since:
            try:
                day = date.fromisoformat(since)
            except ValueError:
                raise CommandError(f"--since must be a date as YYYY-MM-DD, not {since!r}.") \
                    from None
            start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        refused = grants_refused_by_policy(since=start)
        for row in refused:
            g = row.grant
            self.stdout.write(
                f"grant #{g.pk}  {g.created_at:%Y-%m-%d}  advocate #{g.advocate_id} "
                f"({g.advocate})  rule #{g.rule_id} {g.rule.name!r}  {g.status}  "
                f"{g.cost_minor} {g.currency.upper()}")
            for reason in row.reasons:
                self.stdout.write(f"    - {reason}")
        self.stdout.write(f"{len(refused)} grant(s) the current policy would have refused.")

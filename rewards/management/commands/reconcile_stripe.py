"""`manage.py reconcile_stripe --from 2026-11-01 --to 2026-11-30`: compare with Stripe."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse

from rewards.reports import ReportError, parse_date
from rewards.services.reconciliation import ReconciliationError, stripe_reconcile
from rewards.stripe_client import StripePermanentError, StripeTransientError


class Command(BaseCommand):
    help = ("Compare Kansha's discount codes, grants and redemptions with Stripe's promotion "
            "codes, Checkout sessions and invoices for a range of UTC days (inclusive), store "
            "the result (Reports › Reconciliation) and print what differs. Exits 3 when "
            "something differs, so a scheduler can alert.")

    def add_arguments(self, parser):
        parser.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD (inclusive)")

    def handle(self, *args, date_from, date_to, **options):
        try:
            start = parse_date(date_from, name="--from")
            end = parse_date(date_to, name="--to")
            run = stripe_reconcile(date_from=start, date_to=end, trigger="command")
        except (ReportError, ReconciliationError) as exc:
            raise CommandError(str(exc)) from None
        except (StripeTransientError, StripePermanentError) as exc:
            raise CommandError(f"Stripe did not answer: {exc}. The run is recorded as failed; "
                               "try again.") from None
        counts = run.counts
        self.stdout.write(
            f"Reconciliation #{run.pk}, {run.date_from} to {run.date_to}: "
            f"{counts.get('matched', 0)} matched, {counts.get('missing_ours', 0)} missing on "
            f"our side, {counts.get('missing_stripe', 0)} missing at Stripe, "
            f"{counts.get('amount_diff', 0)} amount differences")
        for item in run.items.exclude(kind="matched").order_by("object_type", "kind", "id"):
            self.stdout.write(f"  {item.get_kind_display()}: {item.get_object_type_display()} "
                              f"{item.stripe_id or '—'}: {item.detail}")
        self.stdout.write(f"Details: {reverse('kansha_reports:reconciliation')}?run={run.pk}")
        if run.mismatches:
            raise SystemExit(3)

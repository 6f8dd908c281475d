"""`manage.py platforms check|poll|stream`: connected brand accounts' health, polling by hand,
and the long-running stream readers (X filtered stream, Mastodon user stream, Bluesky
Jetstream), reconnected with backoff."""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from advocates.models import BrandAccount
from advocates.platforms.base import RateLimited, TransientError
from advocates.platforms.http import sleep_until
from advocates.policies import platform_label, policy_for
from advocates.services.platforms import brand_account_check, brand_account_poll
from advocates.services.streams import stream_consume


class Command(BaseCommand):
    help = ("check: ask every connected account's platform whether its credentials work and "
            "print the remaining quota. poll: fetch new mentions now, from each account's saved "
            "cursor (the same work the `platforms-poll` beat entry schedules).")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        check = sub.add_parser("check", help="Health and remaining quota of each account.")
        check.add_argument("--account", type=int, action="append",
                           help="Only this account id (repeatable).")
        poll = sub.add_parser("poll", help="Poll now.")
        poll.add_argument("--account", type=int, action="append",
                          help="Only this account id (repeatable).")
        poll.add_argument("--max-pages", type=int, default=10,
                          help="Pages per account (default %(default)s).")
        stream = sub.add_parser("stream", help="Run an account's streaming API (X filtered "
                                "stream, Mastodon user stream, Bluesky Jetstream), "
                                "reconnecting until stopped.")
        stream.add_argument("--account", type=int, action="append", required=True,
                            help="The account id.")
        stream.add_argument("--once", action="store_true",
                            help="Read one connection to its end, then stop.")

    def _accounts(self, ids):
        accounts = BrandAccount.objects.order_by("platform", "name")
        if ids:
            accounts = accounts.filter(pk__in=ids)
            missing = set(ids) - set(accounts.values_list("pk", flat=True))
            if missing:
                raise CommandError(f"no brand account with id {sorted(missing)}")
        else:
            accounts = accounts.filter(active=True)
        return list(accounts)

    def handle(self, *args, **options):
        accounts = self._accounts(options.get("account"))
        if not accounts:
            self.stdout.write("No connected accounts. Add one in the Wagtail admin under "
                              "Brand accounts.")
            return
        if options["action"] == "check":
            self._check(accounts)
        elif options["action"] == "stream":
            self._stream(accounts[0], once=options["once"])
        else:
            self._poll(accounts, options["max_pages"])

    def _check(self, accounts):
        failed = 0
        for account in accounts:
            health = brand_account_check(account=account)
            quota = "unknown" if account.quota_remaining is None else str(account.quota_remaining)
            if account.quota_reset_at and account.quota_reset_at > timezone.now():
                quota += f" (resets {account.quota_reset_at:%Y-%m-%d %H:%M} UTC)"
            status = self.style.SUCCESS("ok") if health.ok else self.style.ERROR("FAILED")
            who = health.detail.get("user") or account.handle or "-"
            line = (f"#{account.pk} {account.get_platform_display():<20} {account.name:<20} "
                    f"{status}  as {who}  quota remaining: {quota}")
            if health.error:
                line += f"\n    {health.error}"
                failed += 1
            self.stdout.write(line)
        if failed:
            raise CommandError(f"{failed} of {len(accounts)} account(s) failed the check")

    def _poll(self, accounts, max_pages):
        for account in accounts:
            try:
                outcome = brand_account_poll(account_id=account.pk, max_pages=max_pages)
            except TransientError as exc:
                self.stdout.write(f"#{account.pk} {account}: temporary failure, try later: {exc}")
                continue
            if outcome.skipped:
                detail = outcome.skipped
                if outcome.deferred_until:
                    detail += f" until {outcome.deferred_until:%Y-%m-%d %H:%M} UTC"
            elif outcome.error:
                detail = f"error: {outcome.error}"
            else:
                detail = (f"{outcome.created} new, {outcome.duplicate} duplicate, "
                          f"{outcome.pages} page(s)")
                if outcome.deferred_until:
                    detail += f"; quota exhausted until {outcome.deferred_until:%H:%M} UTC"
            self.stdout.write(f"#{account.pk} {account}: {detail}")

    def _stream(self, account, *, once: bool):
        if not policy_for(account.platform).streams:
            raise CommandError(f"{platform_label(account.platform)} has no streaming API")
        backoff = 1
        while True:
            try:
                created = stream_consume(account=account)
                self.stdout.write(f"#{account.pk} {account}: stream ended, {created} new")
                backoff = 1
                if not once:
                    time.sleep(1)  # a server that ends every stream at once is not hammered
            except RateLimited as exc:
                self.stdout.write(f"rate limited until {exc.reset_at:%H:%M:%S} UTC")
                sleep_until(exc.reset_at)
            except TransientError as exc:
                self.stdout.write(f"stream broke ({exc}); reconnecting in {backoff}s")
                time.sleep(backoff)
                backoff = min(backoff * 2, 300)
            if once:
                return

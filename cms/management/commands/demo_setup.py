"""`manage.py demo_setup`: an admin user, the site on localhost, a reward program and a month
of demo mentions.

Idempotent: run it again and it changes nothing that is already there.
"""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db.models import Count
from wagtail.models import Site

from advocates.models import DetectorSettings, Mention, Outreach, OutreachStatus
from advocates.simulation import PLATFORM, MentionSimulator, sandbox_mentions_ingest
from rewards.demo import REGULARS_RULE, demo_program_ensure

DEMO_SEED = 2026  # fixed, so a second run finds the same mentions already there


class Command(BaseCommand):
    help = ("Prepare the demo: the admin user (KANSHA_ADMIN_USER / KANSHA_ADMIN_PASSWORD, "
            "else 'admin' with a generated password), the Wagtail site on localhost, and a "
            "few hundred simulated mentions over the last 30 days.")

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT") or 8000),
                            help="The port the demo server listens on (default %(default)s).")
        parser.add_argument("--mentions", type=int, default=400,
                            help="Demo mentions over the last 30 days (default %(default)s).")
        parser.add_argument("--days", type=float, default=30)

    def handle(self, *args, **options):
        username, password = self._admin_user()
        self._site(options["port"])
        self._program()
        self._demo_mentions(options["mentions"], options["days"])
        url = f"http://localhost:{options['port']}/admin/"
        self.stdout.write(self.style.SUCCESS(f"\nKansha demo: log in at {url}"))
        self.stdout.write(f"  username: {username}")
        self.stdout.write(f"  password: {password}\n")
        self._hint()

    def _program(self) -> None:
        created = demo_program_ensure()
        if not created:
            self.stdout.write("Demo reward program already there.")
            return
        # Three thank-yous to one person is what earns the demo's first reward; with the
        # default 7-day cooldown that takes two weeks, so the demo turns the cooldown off.
        detector = DetectorSettings.load()
        detector.cooldown_days = 0
        detector.save()
        self.stdout.write(f"Created the demo reward program: {', '.join(created)}; the "
                          "thank-you cooldown is off in the demo (Settings › Detector).")

    def _hint(self) -> None:
        regular = (Outreach.objects.filter(kind="reply", status=OutreachStatus.PROPOSED,
                                           dedupe_key__startswith="thank:")
                   .values("identity__handle").annotate(n=Count("id")).filter(n__gte=3)
                   .order_by("-n", "identity__handle").first())
        if regular:
            self.stdout.write(
                f"Try it: search the Outreach queue for {regular['identity__handle']} and "
                f"approve three of their {regular['n']} thank-yous; the rule "
                f"\"{REGULARS_RULE}\" puts a reward message with a code in the queue.\n")

    def _admin_user(self) -> tuple[str, str]:
        User = get_user_model()
        username = os.environ.get("KANSHA_ADMIN_USER", "").strip() or "admin"
        given = os.environ.get("KANSHA_ADMIN_PASSWORD", "")
        if User.objects.filter(username=username).exists():
            self.stdout.write(f"Admin user {username!r} already exists; its password is "
                              "unchanged.")
            return username, "(unchanged; set when the user was created)"
        password = given or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email=f"{username}@localhost",
                                      password=password)
        self.stdout.write(f"Created the admin user {username!r}.")
        return username, ("(from KANSHA_ADMIN_PASSWORD)" if given else password)

    def _site(self, port: int) -> None:
        site = Site.objects.filter(is_default_site=True).first() or Site.objects.first()
        if site is None:
            self.stdout.write(self.style.WARNING("No Wagtail site found; run migrate first."))
            return
        wanted = {"hostname": "localhost", "port": port, "site_name": "Kansha",
                  "is_default_site": True}
        if any(getattr(site, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(site, field, value)
            site.save()
            self.stdout.write(f"Wagtail site set to localhost:{port}.")

    def _demo_mentions(self, count: int, days: float) -> None:
        if Mention.objects.filter(platform=PLATFORM).count() >= count:
            self.stdout.write("Demo mentions already loaded.")
            return
        simulator = MentionSimulator(seed=DEMO_SEED)
        items = simulator.spread(count, days=days)
        created = 0
        for start in range(0, len(items), 200):
            created += sandbox_mentions_ingest(items=items[start:start + 200]).created
        self.stdout.write(f"Loaded {created} demo mentions over the last {days:g} days.")

"""`manage.py redeem_code CODE --order-amount 4200 --currency jpy [--order-ref POS-17]`."""

from django.core.management.base import BaseCommand, CommandError

from rewards import services


class Command(BaseCommand):
    help = "Record the use of a Kansha discount code on an order (for point-of-sale systems)."

    def add_arguments(self, parser):
        parser.add_argument("code")
        parser.add_argument("--order-amount", type=int, required=True,
                            help="Order total before the discount, in minor units.")
        parser.add_argument("--currency", required=True, help="ISO 4217 code, e.g. jpy.")
        parser.add_argument("--order-ref", default="",
                            help="The till's order id (makes a repeated command a no-op).")

    def handle(self, *args, **opts):
        try:
            r, created = services.code_redeem(code=opts["code"],
                                              order_amount_minor=opts["order_amount"],
                                              currency=opts["currency"],
                                              order_ref=opts["order_ref"])
        except services.RedemptionError as exc:
            raise CommandError(str(exc)) from exc
        verb = "Redeemed" if created else "Already recorded"
        self.stdout.write(f"{verb}: {r.code.code} on grant #{r.grant_id}: discount "
                          f"{r.discount_minor}, paid {r.order_amount_minor} "
                          f"{r.currency.upper()} (redemption #{r.pk})")

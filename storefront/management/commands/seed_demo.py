"""The demo data of every app, in the top app: only it may import them all (storefront → rewards → tenants)."""

from django.conf import settings
from django.core.management.base import BaseCommand
from django.urls import reverse

from rewards.demo import seed_rewards
from storefront.demo import seed_storefront
from tenants.demo import DEMO_PASSWORD, seed_brands
from tenants.scoping import across_brands


class Command(BaseCommand):
    help = "Create the demo data of DESIGN.md §7 (idempotent: a second run changes nothing)."

    def handle(self, *args, **options):
        with across_brands():  # it writes every demo brand's data
            report = seed_brands()
            seed_rewards()
            storefront = seed_storefront()
        console = settings.SITE_URL + reverse("admin:index")
        self.stdout.write(self.style.SUCCESS("Moments demo data is ready."))
        self.stdout.write(f"Console: {console}   (every demo login's password: {DEMO_PASSWORD})")
        width = max(len(who) for who, _ in report.logins)
        for who, email in report.logins:
            self.stdout.write(f"  {who.ljust(width)}  {email}")
        self.stdout.write(
            f"Storefront: {settings.SITE_URL}/   end user {storefront.customer_email} (10 credit in "
            f"{settings.SITE_URL}/store/nimbus-mobile)"
        )
        self.stdout.write(f"A reward to claim (as that end user): {storefront.claim_url}")
        if report.new_keys:
            self.stdout.write(
                "Test API keys, shown this once (try: curl -H 'Authorization: Bearer <key>' "
                f"{settings.SITE_URL}{reverse('api:me')}):"
            )
            for slug, secret in report.new_keys:
                self.stdout.write(f"  {slug.ljust(14)}  {secret}")
        if not settings.DEBUG:
            self.stderr.write(self.style.WARNING("DEBUG is off: do not leave demo logins on a public server."))

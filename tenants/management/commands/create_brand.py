from django.core.management.base import BaseCommand, CommandError, no_translations

from tenants import services


class Command(BaseCommand):
    help = "Create a brand (a tenant) and make the given email its owner."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="lowercase letters, digits and hyphens, e.g. fitlife")
        parser.add_argument("--name", required=True, help="the brand's display name")
        parser.add_argument("--owner-email", required=True, help="the owner's login; a new person gets an invitation")

    @no_translations  # scripts read the messages: English, whatever language the process last served
    def handle(self, *args, slug, name, owner_email, **options):
        try:
            brand = services.brand_create(slug=slug, name=name, owner_email=owner_email)
        except services.TenantError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Created brand {brand.slug} ({brand.name}) owned by {owner_email.strip().lower()}.")

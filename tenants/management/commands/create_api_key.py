from django.core.management.base import BaseCommand, CommandError, no_translations

from tenants import services
from tenants.models import ApiKey, Brand
from tenants.scoping import brand_scope


class Command(BaseCommand):
    help = "Create an API key for a brand. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="the brand's slug")
        parser.add_argument("--mode", required=True, choices=ApiKey.Mode.values, help="test or live")
        parser.add_argument("--name", default="", help="what will use the key")

    @no_translations  # scripts read the messages: English, whatever language the process last served
    def handle(self, *args, slug, mode, name, **options):
        brand = Brand.objects.filter(slug=slug).first()
        if brand is None:
            raise CommandError(f"No brand with the slug '{slug}'.")
        try:
            with brand_scope(brand):
                issued = services.api_key_create(brand=brand, mode=mode, name=name, actor=None)
        except services.TenantError as exc:
            raise CommandError(str(exc)) from exc
        if not brand.is_active:
            self.stderr.write(f"Note: {brand.slug} is suspended; the key works once the brand is reactivated.")
        self.stdout.write(f"Created {mode} key {issued.api_key.prefix}… for {brand.slug}. It is shown once:")
        self.stdout.write(issued.secret)

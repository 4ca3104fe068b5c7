"""Makes a private database ready for a fault test, in a process of its own (`python -m
tests.faults.seed`, with DATABASE_URL naming the private server): migrates it, then writes what
a brand needs to report events — a brand, a live API key, and three active campaigns on one
action that repeat (every 3, 5 and 7 workouts; credit, a donation given at once, credit). Prints
them as JSON on its last line.

The pytest process keeps its own connection on the suite's database; this one never touches it.
"""

import json
from decimal import Decimal

import django

# Each campaign earns again every `threshold` workouts, with no limit per user.
CAMPAIGNS = {"every-3-workouts": (3, "credit"), "every-5-workouts": (5, "donation"), "every-7-workouts": (7, "credit")}
ACTION = "workout_completed"
CPA = Decimal("3.00")


def main() -> dict:
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)

    from tenants.scoping import across_brands
    from tests.factories import ApiKeyFactory, BrandFactory, CampaignFactory, CatalogItemFactory

    with across_brands():
        brand = BrandFactory(slug="faults-fitness", name="Faults Fitness")
        key = ApiKeyFactory(brand=brand, mode="live")
        items = {kind: CatalogItemFactory(kind=kind, value=Decimal("1.00")) for kind in ("credit", "donation")}
        campaigns = {
            slug: CampaignFactory(
                brand=brand,
                slug=slug,
                action=ACTION,
                threshold=Decimal(threshold),
                rewards=[items[kind].sku],
                cpa=CPA,
                max_per_user=None,
                active=True,
            )
            for slug, (threshold, kind) in CAMPAIGNS.items()
        }
    return {
        "brand_id": str(brand.pk),
        "key": key.secret,
        "action": ACTION,
        "cpa": str(CPA),
        "campaigns": {
            slug: {"id": str(campaign.pk), "threshold": CAMPAIGNS[slug][0], "kind": CAMPAIGNS[slug][1]}
            for slug, campaign in campaigns.items()
        },
    }


if __name__ == "__main__":
    print(json.dumps(main()))

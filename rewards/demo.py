"""The catalog and the campaigns of the seed's scenarios (DESIGN.md §7), created idempotently."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from rewards.campaigns import services as campaigns
from rewards.campaigns.models import Campaign
from rewards.catalog import services as catalog
from rewards.catalog.models import CatalogItem, Charity, DigitalCode
from tenants.models import Brand

OCEAN = "Ocean Cleanup Fund"

CATALOG = [
    # sku, name, kind, value, cost, extra
    ("GC-10-USD", "10 USD gift card", "digital_code", "10.00", "9.60", {}),
    ("BOTTLE-STEEL", "Insulated steel water bottle", "physical", "24.00", "9.00", {"stock": 400}),
    (
        "SPEAKER-SMART",
        "Smart speaker",
        "physical",
        "49.99",
        "31.00",
        {"stock": 150, "countries": ["US", "GB", "DE", "FR", "KR", "TH", "JP", "CA"]},
    ),
    ("CREDIT-2", "2 USD reward store credit", "credit", "2.00", "2.00", {}),
    ("CREDIT-5", "5 USD reward store credit", "credit", "5.00", "5.00", {}),
    ("CREDIT-25", "25 USD reward store credit", "credit", "25.00", "25.00", {}),
    ("DONATE-OCEAN-1", "1 USD to the Ocean Cleanup Fund", "donation", "1.00", "1.00", {"charity": OCEAN}),
    ("DATA-PASS-5GB", "5 GB mobile data pass", "digital_code", "8.00", "2.00", {}),
    ("EARBUDS", "Wireless earbuds", "physical", "29.00", "14.00", {"stock": 80}),
]
# Demo codes for the digital items: the operator uploads real ones.
DEMO_CODES_PER_ITEM = 25


def _campaigns(now):
    tournament_end = now + timedelta(weeks=5)
    return {
        "fitlife": [
            dict(
                slug="thirty-workouts",
                name="30 workouts",
                action="workout_completed",
                threshold=30,
                rewards=["BOTTLE-STEEL", "GC-10-USD"],
                cpa="8.00",
            ),
        ],
        "daily-courier": [
            dict(
                slug="subscribe-speaker",
                name="Subscribe, get a smart speaker",
                action="subscription_started",
                threshold=1,
                rewards=["SPEAKER-SMART"],
                cpa="45.00",
            ),
        ],
        "questforge": [
            dict(
                slug="level-15",
                name="Reach level 15",
                action="level_reached",
                threshold=15,
                rewards=["CREDIT-5"],
                cpa="6.00",
            ),
        ],
        "nimbus-mobile": [
            dict(
                slug=f"challenge-{action.replace('_', '-')}",
                name=name,
                action=action,
                threshold=1,
                rewards=["CREDIT-2"],
                cpa="3.00",
                max_per_user=5,
                starts_at=now,
                ends_at=tournament_end,
            )
            for action, name in [
                ("friend_referred", "Tournament: refer a friend"),
                ("media_uploaded", "Tournament: upload a photo or video"),
                ("match_predicted", "Tournament: predict a match winner"),
            ]
        ],
        "streambox": [
            dict(
                slug="first-1000-ten-hours",
                name="First 1,000 to stream 10 hours",
                action="hours_streamed",
                threshold=10,
                rewards=["CREDIT-25"],
                cpa="20.00",
                max_moments=1000,
            ),
            dict(
                slug="ocean-hours",
                name="Every hour streamed gives 1 USD to the ocean",
                action="hours_streamed",
                threshold=1,
                rewards=["DONATE-OCEAN-1"],
                cpa="3.00",
                max_per_user=None,
            ),
        ],
    }


def seed_rewards() -> None:
    """Create what is missing, change nothing that exists."""
    with transaction.atomic():
        charity, _ = Charity.objects.get_or_create(name=OCEAN, defaults={"website": "https://ocean.example"})
        for sku, name, kind, value, cost, extra in CATALOG:
            defaults = {"name": name, "kind": kind, "value": Decimal(value), "cost": Decimal(cost), **extra}
            if "charity" in defaults:
                defaults["charity"] = charity
            opening = defaults.pop("stock", 0)
            item, created = CatalogItem.objects.get_or_create(
                sku=sku, defaults={**defaults, "stock": 0 if kind == CatalogItem.Kind.PHYSICAL else None}
            )
            if created:
                catalog.stock_open(item=item, count=opening)  # through the stock ledger, like the operator's
            if item.kind == CatalogItem.Kind.DIGITAL_CODE:
                for number in range(1, DEMO_CODES_PER_ITEM + 1):
                    DigitalCode.objects.get_or_create(item=item, code=f"DEMO-{sku}-{number:04d}")
        for slug, specs in _campaigns(timezone.now()).items():
            brand = Brand.objects.get(slug=slug)
            for data in specs:
                if Campaign.objects.filter(brand=brand).filter(slug=data["slug"]).exists():
                    continue
                data = {**data, "threshold": Decimal(data["threshold"]), "cpa": Decimal(data["cpa"])}
                campaign = campaigns.campaign_create(brand=brand, data=data)
                campaigns.campaign_activate(campaign=campaign)

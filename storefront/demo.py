"""Demo data of the end user's side: Nimbus Mobile's reward store, and an end user with credit."""

from dataclasses import dataclass
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db import transaction

from rewards.earning import services as earning
from rewards.models import CatalogItem, Moment, StoreItem
from rewards.moments.claims import claim_url
from storefront import services
from tenants.demo import DEMO_PASSWORD
from tenants.models import Brand, User

END_USER_EMAIL = "customer@moments.example"
STORE = {"nimbus-mobile": [("DATA-PASS-5GB", "6.00"), ("GC-10-USD", "10.00"), ("EARBUDS", "20.00")]}
# The demo customer is these brands' user (the ids their apps report) and has earned with them.
CUSTOMER_IDS = {"nimbus-mobile": "nimbus-user-1", "streambox": "viewer-1"}


@dataclass
class StorefrontDemo:
    customer_email: str
    claim_url: str  # an earned, unclaimed moment to click through


def seed_storefront() -> StorefrontDemo:
    """Idempotent: events have fixed ids, so a second run replays them and creates nothing."""
    with transaction.atomic():
        for slug, entries in STORE.items():
            brand = Brand.objects.get(slug=slug)
            for position, (sku, price) in enumerate(entries):
                StoreItem.objects.get_or_create(
                    brand=brand,
                    item=CatalogItem.objects.get(sku=sku),
                    defaults={"price": Decimal(price), "position": position},
                )
        customer = User.objects.filter(email=END_USER_EMAIL).first()
        if customer is None:
            customer = User.objects.create_user(email=END_USER_EMAIL, password=DEMO_PASSWORD)
            EmailAddress.objects.create(user=customer, email=END_USER_EMAIL, verified=True, primary=True)
        # Five tournament referrals at Nimbus Mobile, claimed: 10 credit in the reward store.
        nimbus = Brand.objects.get(slug="nimbus-mobile")
        referrals = [
            earning.EventInput(
                event_id=f"demo-referral-{n}", user_id=CUSTOMER_IDS["nimbus-mobile"], action="friend_referred"
            )
            for n in range(1, 6)
        ]
        earning.events_ingest(brand=nimbus, mode="live", events=referrals)
        for moment in Moment.objects.filter(brand=nimbus).filter(status=Moment.Status.EARNED, user_id="nimbus-user-1"):
            services.claim_confirm(user=customer, moment=moment, item=CatalogItem.objects.get(sku="CREDIT-2"))
        # Ten hours streamed at StreamBox, not claimed yet: the claim flow to try.
        streambox = Brand.objects.get(slug="streambox")
        [outcome] = earning.events_ingest(
            brand=streambox,
            mode="live",
            events=[
                earning.EventInput(
                    event_id="demo-streaming-1",
                    user_id=CUSTOMER_IDS["streambox"],
                    action="hours_streamed",
                    quantity=Decimal("10"),
                )
            ],
        )
        to_claim = next(m for m in outcome.body["moments"] if m["campaign"] == "first-1000-ten-hours")
    return StorefrontDemo(customer_email=END_USER_EMAIL, claim_url=claim_url(to_claim["id"]))

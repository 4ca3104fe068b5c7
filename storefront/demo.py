"""Demo data of the end user's side: the brands' reward stores, an end user with credit, and the
weeks of activity (`seed_activity`): the brands' users earning through the real ingestion, then
claiming through the storefront's claim service, their orders fulfilled or shipped, their credit
spent in the stores."""

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db import transaction
from django.utils import timezone

from rewards.campaigns.selectors import campaign_rewards
from rewards.demo import ACTIVITY_PREFIX, Timeline, activity_done, activity_ingest, activity_plan
from rewards.earning import services as earning
from rewards.fields import Mode
from rewards.models import CatalogItem, Event, Moment, Order, StoreItem, Wallet
from rewards.moments import services as moments
from rewards.moments.claims import claim_url
from rewards.orders import fulfilment
from rewards.orders import services as orders
from rewards.orders.moves import order_move
from storefront import services
from storefront.models import Address
from tenants.demo import DEMO_BRANDS, demo_login
from tenants.models import Brand, User

END_USER_EMAIL = "customer@moments.example"
STORE = {
    "nimbus-mobile": [("DATA-PASS-5GB", "6.00"), ("GC-10-USD", "10.00"), ("EARBUDS", "20.00")],
    "questforge": [("GC-5-USD", "5.00"), ("GC-10-USD", "10.00")],
    "streambox": [("GC-10-USD", "10.00"), ("BOTTLE-STEEL", "15.00"), ("EARBUDS", "20.00")],
}
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
        customer = demo_login(END_USER_EMAIL)
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
            order = services.claim_confirm(user=customer, moment=moment, item=CatalogItem.objects.get(sku="CREDIT-2"))
            fulfilment.fulfil(order_id=order.pk)  # the credit now, whether tasks run in-process or on a worker
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


# --- Weeks of activity ------------------------------------------------------------------------

# Of each brand's users holding claimable moments, the share who claim them.
CLAIMING = {"fitlife": 0.6, "daily-courier": 0.45, "questforge": 0.4, "nimbus-mobile": 0.3, "streambox": 0.5}
SPENDING = 0.75  # of those who claimed credit, the share who spend it in the brand's store
SHIPPED = 0.7  # of the parcels, the share the operator has shipped (the rest wait on the pick list)
DELIVERED = 0.5  # of the shipped parcels, the share delivered (fulfilled)
CARRIERS = ["DHL", "UPS", "FedEx", "Royal Mail", "La Poste", "CJ Logistics", "Kerry Express", "Yamato"]
CITIES = {
    "US": ("Portland", "OR", "97205"),
    "GB": ("Leeds", "", "LS1 4AP"),
    "CA": ("Halifax", "NS", "B3H 1A1"),
    "DE": ("Leipzig", "", "04109"),
    "FR": ("Lyon", "", "69002"),
    "KR": ("Seoul", "", "04524"),
    "TH": ("Bangkok", "", "10110"),
    "JP": ("Osaka", "", "530-0001"),
}
FIRST_NAMES = ["Alex", "Sam", "Jin", "Mai", "Noor", "Lea", "Kenji", "Ana", "Tom", "Suda", "Minho", "Chloe"]
LAST_NAMES = ["Kim", "Smith", "Dubois", "Tanaka", "Weber", "Park", "Brown", "Chai", "Martin", "Lee"]


@dataclass
class BrandActivity:
    """What the demo's activity holds for one brand; `made`: generated by this run (else found)."""

    name: str
    made: bool
    events: int
    moments: int
    orders: int


Task = Callable[[str, int], Callable[[int], None]]  # (description, total) → advance(by)


def seed_activity(*, size: str = "small", task: Task | None = None) -> list[BrandActivity]:
    """Five weeks of each demo brand's activity, once: a brand whose activity an earlier run made
    is left as it is. Each brand's in one transaction: all of it or nothing."""
    task = task or (lambda description, total: lambda by=1: None)
    timeline = Timeline(timezone.now())
    made = []
    for demo in DEMO_BRANDS:
        brand = Brand.objects.get(slug=demo.slug)
        if activity_done(brand):
            continue
        made.append(brand.slug)
        plan = activity_plan(brand=brand, timeline=timeline, size=size)
        with transaction.atomic():
            activity_ingest(brand=brand, events=plan, advance=task(f"{demo.name}: events", len(plan)))
            rng = random.Random(f"moments-demo:{brand.slug}:{size}:orders")  # nosec B311  # demo data, no secret
            _claim_and_spend(brand, rng, task)
    if made:
        moments.moments_expire()  # as the beat would have: the oldest unclaimed moments, credited back
    return [_summary(Brand.objects.get(slug=demo.slug), made=demo.slug in made) for demo in DEMO_BRANDS]


def _summary(brand: Brand, made: bool) -> BrandActivity:
    return BrandActivity(
        name=brand.name,
        made=made,
        events=Event.objects.filter(brand=brand).count(),
        moments=Moment.objects.filter(brand=brand).filter(mode=Mode.LIVE).count(),
        orders=Order.objects.filter(brand=brand).count(),
    )


def _claim_and_spend(brand: Brand, rng: random.Random, task: Task) -> None:
    """Some of the brand's users claim what they earned, through the storefront's claim service;
    the operator ships some parcels; credit is spent in the brand's store."""
    now = timezone.now()
    claimable = (
        Moment.objects.filter(brand=brand)
        .filter(mode=Mode.LIVE, status=Moment.Status.EARNED, expires_at__gt=now + timedelta(hours=1))
        .filter(event__event_id__startswith=ACTIVITY_PREFIX)
        .select_related("campaign", "brand", "event")
        .order_by("earned_at", "user_id", "sequence")
    )
    by_user = {}
    for moment in claimable:
        by_user.setdefault(moment.user_id, []).append(moment)
    claimants = [user_id for user_id in by_user if rng.random() < CLAIMING[brand.slug]]
    store = list(StoreItem.objects.filter(brand=brand).filter(active=True).select_related("item", "brand"))
    advance = task(f"{brand.name}: claims and orders", len(claimants))
    for user_id in claimants:
        country = by_user[user_id][0].event.country or "US"
        customer, address = _customer(user_id), None
        for moment in by_user[user_id]:
            item = rng.choice(campaign_rewards(moment.campaign))
            if item.kind == CatalogItem.Kind.PHYSICAL:
                address = address or _address(customer, country, rng)
            try:
                order = services.claim_confirm(
                    user=customer,
                    moment=moment,
                    item=item,
                    address=address if item.kind == CatalogItem.Kind.PHYSICAL else None,
                )
            except services.Refused:
                continue  # out of stock, say: the moment stays to claim
            _fulfil(order, rng)
        if store and rng.random() < SPENDING:
            _spend(customer, brand, store, country, rng)
        advance(1)


def _customer(user_id: str) -> User:
    """The brand user's platform account (made up: no password, a verified address)."""
    email = f"{user_id}@customers.example"
    customer = User.objects.filter(email=email).first() or User.objects.create_user(email=email)
    EmailAddress.objects.get_or_create(user=customer, email=email, defaults={"verified": True, "primary": True})
    return customer


def _address(customer: User, country: str, rng: random.Random) -> Address:
    city, region, postal_code = CITIES.get(country, CITIES["US"])
    return services.address_save(
        address=Address(
            user=customer,
            full_name=f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}",
            line1=f"{rng.randint(1, 400)} Demo Street",
            city=city,
            region=region,
            postal_code=postal_code,
            country=country if country in CITIES else "US",
        )
    )


def _fulfil(order: Order, rng: random.Random) -> None:
    """As the platform would by now: codes and credit at once (by their provider), parcels shipped
    by the operator from the pick list, some of them delivered."""
    if order.item.kind != CatalogItem.Kind.PHYSICAL:
        fulfilment.fulfil(order_id=order.pk)
        return
    if rng.random() < SHIPPED:
        tracking = f"DM{rng.randrange(10**9):09d}"
        order_move(order=order, to=Order.Status.SHIPPED, carrier=rng.choice(CARRIERS), tracking_number=tracking)
        if rng.random() < DELIVERED:
            order_move(order=order, to=Order.Status.FULFILLED)


def _spend(customer: User, brand: Brand, store: list, country: str, rng: random.Random) -> None:
    """Buy from the brand's store while the credit lasts and the customer wants to."""
    wallet = Wallet.objects.filter(brand=brand).filter(user=customer).first()
    balance = wallet.balance if wallet else Decimal("0")
    choices = list(store)
    while True:
        affordable = [entry for entry in choices if entry.price <= balance]
        if not affordable:
            return
        entry = rng.choice(affordable)
        address = None
        if entry.item.kind == CatalogItem.Kind.PHYSICAL:
            address = (customer.addresses.first() or _address(customer, country, rng)).snapshot()
        try:
            order = orders.store_checkout(user=customer, store_item=entry, mode=Mode.LIVE, shipping_address=address)
        except orders.Refused:
            choices.remove(entry)  # out of stock, or not shipped there: something else
            continue
        balance -= entry.price
        _fulfil(order, rng)
        if rng.random() < 0.35:  # keeps the rest for later
            return

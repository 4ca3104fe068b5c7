"""Reads of the end user's side, always through the signed-in account: another account's rows are a 404."""

from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.shortcuts import get_object_or_404

from rewards.fields import money
from rewards.models import Donation, Mode, Moment, Order, StoreItem, Wallet
from rewards.moments.claims import claim_token_hash
from rewards.orders.selectors import store_items_on_sale
from storefront.models import Address, BrandLink
from tenants.scoping import across_brands


def moment_for_token(token: str) -> Moment:
    """The moment a claim token belongs to; a forged or altered token is a 404. Looked up across
    brands: the token names its brand, whose scope the claim pages then enter."""
    with across_brands():
        return get_object_or_404(
            Moment.objects.select_related("campaign", "brand"), claim_token_hash=claim_token_hash(token)
        )


def moments_of_account(user):
    """The account's moments across brands: those it claimed, and the unclaimed ones of the brand users
    it is linked to (a moment another account claimed, before that brand user was linked here, is the
    other account's)."""
    links = list(BrandLink.objects.filter(user=user).values_list("brand_id", "brand_user_id"))
    linked = Q()
    for brand_id, brand_user_id in links:
        linked |= Q(brand_id=brand_id, user_id=brand_user_id, mode=Mode.LIVE)
    unclaimed = Q(account__isnull=True, claimed_at__isnull=True)
    mine = Q(account=user) | (linked & unclaimed) if links else Q(account=user)
    return Moment.objects.filter(mine).select_related("campaign", "brand").order_by("-earned_at")


def orders_of(user):
    return Order.objects.filter(user=user).select_related("brand", "item", "moment__campaign").order_by("-created_at")


def donations_of_account(user) -> list[dict]:
    """What the account's rewards gave, per brand and charity, largest first:
    {brand, charity, total, gifts}."""
    given = (
        Donation.objects.filter(moment__in=moments_of_account(user).values("pk"))
        .values("brand__name", "charity__name")
        .annotate(total=Sum("amount"), gifts=Count("pk"))
        .order_by("-total", "brand__name", "charity__name")
    )
    return [
        {
            "brand": row["brand__name"],
            "charity": row["charity__name"],
            "total": money(row["total"]),
            "gifts": row["gifts"],
        }
        for row in given
    ]


def order_of(user, order_id) -> Order:
    return get_object_or_404(orders_of(user).prefetch_related("events"), pk=order_id)


def addresses_of(user):
    return Address.objects.filter(user=user)


def address_of(user, address_id) -> Address:
    return get_object_or_404(addresses_of(user), pk=address_id)


def links_of(user):
    return BrandLink.objects.filter(user=user).select_related("brand")


def link_of(user, link_id) -> BrandLink:
    return get_object_or_404(links_of(user), pk=link_id)


def wallets_of(user):
    """The account's wallets, live before test, by brand."""
    return Wallet.objects.filter(user=user).select_related("brand").order_by("brand__name", "mode")


def store_balance(user, brand, mode) -> Decimal:
    """The account's credit of `mode` with this brand (none yet: 0.00)."""
    wallet = wallets_of(user).filter(brand=brand, mode=mode).first()
    return wallet.balance if wallet else Decimal("0.00")


def store_items(brand):
    return store_items_on_sale(brand).select_related("item")


@dataclass(frozen=True)
class ShelfItem:
    store_item: StoreItem
    shortfall: Decimal | None  # the credit still missing to buy it; None when affordable or unknown


def store_shelf(brand, balance: Decimal | None) -> list[ShelfItem]:
    """The store's items, each with what the customer still needs for it (`balance` None: signed
    out, so nothing is said)."""
    return [
        ShelfItem(
            store_item=entry,
            shortfall=entry.price - balance if balance is not None and entry.price > balance else None,
        )
        for entry in store_items(brand)
    ]


def store_purchases(user, brand, mode):
    """What the account bought in this brand's store in `mode`, newest first."""
    return orders_of(user).filter(brand=brand, mode=mode, store_item__isnull=False)

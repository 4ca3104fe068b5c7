"""Orders, wallets and reward stores: everything that reaches an end user moves money or stock here.

The storefront's pages call these; fulfilment (rewards/orders/fulfilment.py) moves orders through them.
Every lock is taken through rewards/ledger/locks.py, in the one order money uses.
"""

from decimal import Decimal

from django.db import transaction
from django.utils.translation import gettext as _

from rewards import clock
from rewards.campaigns.selectors import campaign_rewards
from rewards.catalog import services as catalog
from rewards.catalog.models import CatalogItem
from rewards.catalog.selectors import platform_policy
from rewards.fields import Mode, money
from rewards.ledger import services as ledger
from rewards.ledger.locks import lock_money
from rewards.moments import services as moments
from rewards.moments.models import Moment
from rewards.orders import moves as order_moves
from rewards.orders.fulfilment import fulfil_order
from rewards.orders.models import Order, OrderEvent, StoreItem
from rewards.wallets import services as wallets
from rewards.wallets.models import WalletEntry
from rewards.webhooks import services as webhooks
from tenants import audit
from tenants.models import User


class Refused(Exception):
    """A request the storefront turns down; the message says why, for the person asking."""


def shipping_refusal(*, item: CatalogItem, country: str, campaign=None) -> str | None:
    """Why an item cannot be shipped to this country, or None."""
    return shipping_refusals(item=item, countries=[country], campaign=campaign)[country]


def shipping_refusals(*, item: CatalogItem, countries, campaign=None) -> dict:
    """{country: why the item cannot be shipped there, or None}, the policy read once."""
    excluded = {c.code for c in platform_policy().excluded_countries}
    if campaign is not None:
        excluded |= {c.code for c in campaign.excluded_countries}
    reachable = {c.code for c in item.countries}

    def refusal(country):
        if country in excluded:
            return _("Rewards cannot be sent to this country.")
        if reachable and country not in reachable:
            return _("%(item)s cannot be delivered to this country.") % {"item": item.name}
        return None

    return {country: refusal(country) for country in countries}


def shipping_fee(*, item: CatalogItem, user: User) -> Decimal:
    """What the brand pays to ship this item to this user (DESIGN.md §3); the user never pays."""
    policy = platform_policy()
    if user.free_shipping_member or item.value >= policy.free_shipping_from:
        return Decimal("0.00")
    return policy.shipping_fee


def place_order(
    *,
    user,
    brand,
    mode: str,
    item,
    shipping_address: dict | None,
    moment=None,
    campaign=None,
    store_item=None,
    credit=Decimal("0"),
) -> Order:
    """The order and what it moves at once: stock reserved, shipping fee billed, fulfilment queued.
    `shipping_address`: the address as it is now (its `country` an ISO code); later edits of the
    customer's address book do not move the parcel."""
    test = mode == Mode.TEST  # simulated: no stock reserved, no fee billed
    order = Order(
        user=user, brand=brand, mode=mode, item=item, moment=moment, store_item=store_item, credit_spent=credit
    )
    if item.kind == CatalogItem.Kind.PHYSICAL:
        if shipping_address is None:
            raise Refused(_("Choose where to send it."))
        refusal = shipping_refusal(item=item, country=shipping_address["country"], campaign=campaign)
        if refusal:
            raise Refused(refusal)
        order.shipping_address = shipping_address
        order.shipping_fee = Decimal("0.00") if test else shipping_fee(item=item, user=user)
    order.save(force_insert=True)
    if item.kind == CatalogItem.Kind.PHYSICAL and not test and not catalog.stock_reserve(item=item, order=order):
        raise Refused(_("%(item)s is out of stock. Please choose another reward.") % {"item": item.name})
    OrderEvent.objects.create(order=order, status=Order.Status.PLACED)
    order_moves.order_counted(order, Order.Status.PLACED)
    if order.shipping_fee:
        ledger.shipping_fee_bill(order=order, campaign=campaign)
    fulfil_order.delay(str(order.pk))  # published when the transaction commits
    return order


# --- The reward store -------------------------------------------------------------------------


def moment_claim(*, moment: Moment, user: User, item: CatalogItem, shipping_address: dict | None, now) -> Order:
    """Claim a moment the caller locked (`moments.moment_lock`) and found claimable: its order is
    placed with the chosen reward, the moment is bound to the account, and the brand is told
    (`moment.claimed`)."""
    if item not in campaign_rewards(moment.campaign):
        raise Refused(_("This reward is not one of the choices."))
    order = place_order(
        user=user,
        brand=moment.brand,
        mode=moment.mode,
        item=item,
        shipping_address=shipping_address,
        moment=moment,
        campaign=moment.campaign,
    )
    if not Moment.objects.filter(pk=moment.pk, status=Moment.Status.EARNED).update(
        status=Moment.Status.CLAIMED, claimed_at=now, account=user
    ):
        raise Refused(_("This reward has already been claimed."))
    webhooks.emit(
        brand=moment.brand,
        mode=moment.mode,
        event_type="moment.claimed",
        data=moments.moment_webhook_data(moment, reward=item.sku),
    )
    return order


def store_item_save(*, store_item: StoreItem, actor: User | None) -> StoreItem:
    """Save an item of a brand's reward store as its staff (or the operator) edited it: in the
    brand's audit trail with what changed — the catalog item (by its SKU), the price in credit,
    whether it is on sale, its place in the store. Items leave a store by `active`, never deleted:
    orders point at them."""
    with transaction.atomic():
        if store_item._state.adding:
            action, before = audit.Action.STORE_ITEM_CREATE, {}
            store_item.save(force_insert=True)
        else:
            was = StoreItem.objects.select_for_update().select_related("item").get(pk=store_item.pk)
            action, before = audit.Action.STORE_ITEM_UPDATE, _store_item_fields(was)
            store_item.save()
        after = _store_item_fields(store_item)
        if before != after:
            audit.record(actor=actor, brand=store_item.brand, action=action, obj=store_item, before=before, after=after)
    return store_item


def _store_item_fields(store_item: StoreItem) -> dict:
    return {
        "item": store_item.item.sku,
        "price": money(store_item.price),  # as typed ("5") or read back ("5.00"): one form
        "active": store_item.active,
        "position": store_item.position,
    }


def store_checkout(*, user: User, store_item: StoreItem, mode: str, shipping_address: dict | None = None) -> Order:
    """Buy a store item with the brand's credit of `mode` (the store's test mode spends test credit
    on a simulated order): the balance never goes below zero, whatever the concurrency (a
    conditional UPDATE takes the price or nothing)."""
    if not store_item.active or not store_item.item.active:
        raise Refused(_("This item is no longer in the store."))
    with transaction.atomic():
        wallet = wallets.wallet_take(brand_id=store_item.brand_id, user=user, mode=mode, amount=store_item.price)
        if wallet is None:
            raise Refused(_("Not enough credit for this item."))
        order = place_order(
            user=user,
            brand=store_item.brand,
            mode=mode,
            item=store_item.item,
            shipping_address=shipping_address,
            store_item=store_item,
            credit=store_item.price,
        )
        WalletEntry.objects.create(
            brand_id=store_item.brand_id,
            wallet=wallet,
            kind=WalletEntry.Kind.PURCHASE,
            amount=-store_item.price,
            order=order,
        )
    return order


def order_ship(*, order: Order, carrier: str, tracking_number: str, actor: User | None) -> bool:
    """The operator marks a placed parcel shipped, with its carrier and tracking number; False if it
    was no longer placed. The tracking number is the operator's in the audit trail: it leads to
    where the customer lives (the brand's `order.fulfilled` webhook leaves it out too)."""
    with transaction.atomic():
        if not order_moves.order_move(
            order=order, to=Order.Status.SHIPPED, carrier=carrier, tracking_number=tracking_number
        ):
            return False
        audit.record(
            actor=actor,
            brand=order.brand,
            action=audit.Action.ORDER_SHIP,
            obj=order,
            before={"status": Order.Status.PLACED},  # the one status a parcel ships from (order_move)
            after={"status": Order.Status.SHIPPED, "carrier": carrier, "tracking_number": tracking_number},
            brand_hidden=frozenset({"tracking_number"}),
        )
    return True


def order_cancel(*, order: Order, reason: str, actor: User | None) -> bool:
    """The operator calls off an order not yet sent (placed, or failed at an outside service): its
    stock goes back on the shelf, the shipping fee and the moment's CPA go back to the brand, credit
    spent on it goes back to the wallet, and the customer sees why on the order page. Once only."""
    reason = reason.strip()
    if not reason:
        raise Refused(_("Say why the order is cancelled."))
    with transaction.atomic():
        # Every lock this takes, in the order every money path takes them (rewards/ledger/locks.py). An
        # outside fulfilment service acting on the order holds a lease: no cancel meanwhile.
        order = Order.objects.select_related("item", "moment__brand").get(pk=order.pk)
        if order.moment_id:
            moment_now = clock.mode_now(order.moment.brand, order.moment.mode)
            lock_money(**ledger.refund_locks(moment=order.moment, now=moment_now), rows=order_moves.order_rows(order))
        else:
            lock_money(brand_id=order.brand_id, rows=order_moves.order_rows(order))
        if Order.objects.filter(pk=order.pk, provider_lease_until__isnull=False).exists():
            raise Refused(_("The fulfilment service may be shipping this order: cancel it once the service answers."))
        was = Order.objects.filter(pk=order.pk).values_list("status", flat=True).get()  # read under the lock
        if not order_moves.order_move(order=order, to=Order.Status.CANCELLED, note=reason):
            return False
        audit.record(
            actor=actor,
            brand=order.brand,
            action=audit.Action.ORDER_CANCEL,
            obj=order,
            before={"status": was},
            after={"status": Order.Status.CANCELLED, "reason": reason},
        )
        if order.shipping_fee:
            ledger.shipping_fee_refund(order=order)
        if order.moment_id:
            moments.moment_cancel(moment=order.moment, reason=reason, actor=actor, claimed=True)
        # The wallet before the stock, as a store checkout takes them: the two never wait in a cycle.
        if order.credit_spent and order.user_id:  # a deleted account's wallet went with it
            wallets.wallet_refund(order=order)
        if order.item.kind == CatalogItem.Kind.PHYSICAL and order.mode == Mode.LIVE:
            catalog.stock_release(item=order.item, order=order)
    return True


def orders_forget_address(*, user: User) -> int:
    """Erase the shipping address of every order of the account (its deletion): the orders stay,
    for the brands' accounts, with nothing left of where the person lives."""
    return Order.objects.filter(user=user).update(shipping_address=None)

"""Every state change of the end user's side: claims, orders, addresses, wallets, accounts."""

from dataclasses import dataclass
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rewards import selectors as reward_selectors
from rewards import services as reward_services
from rewards import webhooks
from rewards.locks import lock_money
from rewards.models import CatalogItem, Mode, Moment
from rewards.tasks import fulfil_order
from storefront.models import Address, BrandLink, Order, OrderEvent, StoreItem, Wallet, WalletEntry
from storefront.selectors import moments_of_account
from storefront.tasks import send_order_update
from tenants.models import User


class Refused(Exception):
    """A request the storefront turns down; the message says why, for the person asking."""


# --- Claims -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimState:
    """What a claim link can do now: `claimable`, or why not (`expired`, `cancelled`, `used`)."""

    name: str

    @property
    def claimable(self):
        return self.name == "claimable"


def claim_state(moment: Moment, now=None) -> ClaimState:
    now = now or timezone.now()
    if moment.status == Moment.Status.CANCELLED:
        return ClaimState("cancelled")
    if moment.status == Moment.Status.EXPIRED or (moment.status == Moment.Status.EARNED and moment.expires_at <= now):
        return ClaimState("expired")
    if moment.status != Moment.Status.EARNED:
        return ClaimState("used")
    return ClaimState("claimable")


def link_conflict(*, user: User, moment: Moment) -> str | None:
    """Why this account may not take this moment (a link to another account or user id), or None."""
    links = BrandLink.objects.for_brand(moment.brand_id).filter(
        brand_user_id=moment.user_id
    ) | BrandLink.objects.filter(brand_id=moment.brand_id, user=user)
    for link in links:
        if link.user_id != user.pk:
            return _(
                "This reward belongs to a %(brand)s account that is already linked to another Moments account. "
                "Sign in with that account to claim it."
            ) % {"brand": moment.brand.name}
        if link.brand_user_id != moment.user_id:
            return _(
                "Your Moments account is already linked to another %(brand)s account, so it cannot claim rewards "
                "earned by this one. Unlink it from your account page first, or sign in with another account."
            ) % {"brand": moment.brand.name}
    return None


def shipping_refusal(*, item: CatalogItem, country: str, campaign=None) -> str | None:
    """Why an item cannot be shipped to this country, or None."""
    policy = reward_selectors.platform_policy()
    excluded = {c.code for c in policy.excluded_countries}
    if campaign is not None:
        excluded |= {c.code for c in campaign.excluded_countries}
    if country in excluded:
        return _("Rewards cannot be sent to this country.")
    if item.countries and country not in {c.code for c in item.countries}:
        return _("%(item)s cannot be delivered to this country.") % {"item": item.name}
    return None


def shipping_fee(*, item: CatalogItem, user: User) -> Decimal:
    """What the brand pays to ship this item to this user (DESIGN.md §3); the user never pays."""
    policy = reward_selectors.platform_policy()
    if user.free_shipping_member or item.value >= policy.free_shipping_from:
        return Decimal("0.00")
    return policy.shipping_fee


def claim_confirm(*, user: User, moment: Moment, item: CatalogItem, address: Address | None = None) -> Order:
    """Bind the moment to the account, link the brand's user id, and place the order — once.

    The moment row is locked first, so two confirmations at the same time make one order; the
    second finds the moment claimed and is refused.
    """
    now = timezone.now()
    if not EmailAddress.objects.filter(user=user, verified=True).exists():
        raise Refused(_("Please verify your email address first."))
    with transaction.atomic():
        moment = Moment.objects.select_for_update().select_related("campaign", "brand").get(pk=moment.pk)
        state = claim_state(moment, now)
        if not state.claimable:
            raise Refused(str(CLAIM_STATE_MESSAGES[state.name]))
        if item not in reward_selectors.campaign_rewards(moment.campaign):
            raise Refused(_("This reward is not one of the choices."))
        conflict = link_conflict(user=user, moment=moment)
        if conflict:
            raise Refused(conflict)
        _link(user=user, moment=moment)
        order = _place_order(
            user=user, brand=moment.brand, item=item, address=address, moment=moment, campaign=moment.campaign
        )
        Moment.objects.filter(pk=moment.pk).update(status=Moment.Status.CLAIMED, claimed_at=now, account=user)
        webhooks.emit(
            brand=moment.brand,
            event_type="moment.claimed",
            data={
                "id": str(moment.pk),
                "campaign": moment.campaign.slug,
                "user_id": moment.user_id,
                "reward": item.sku,
            },
        )
    return order


CLAIM_STATE_MESSAGES = {
    "expired": gettext_lazy("This reward was not claimed in time and has expired."),
    "cancelled": gettext_lazy("This reward was cancelled by the brand."),
    "used": gettext_lazy("This reward has already been claimed."),
}


def _link(*, user: User, moment: Moment) -> None:
    if BrandLink.objects.filter(brand_id=moment.brand_id, user=user).exists():
        return
    try:
        with transaction.atomic():
            BrandLink.objects.create(brand_id=moment.brand_id, user=user, brand_user_id=moment.user_id)
    except IntegrityError as exc:  # another account linked it a moment ago
        raise Refused(link_conflict(user=user, moment=moment) or _("Please try again.")) from exc


def _place_order(*, user, brand, item, address, moment=None, campaign=None, store_item=None, credit=Decimal("0")):
    """The order and what it moves at once: stock reserved, shipping fee billed, fulfilment queued."""
    test = moment is not None and moment.mode == Mode.TEST
    order = Order(user=user, brand=brand, item=item, moment=moment, store_item=store_item, credit_spent=credit)
    if item.kind == CatalogItem.Kind.PHYSICAL:
        if address is None:
            raise Refused(_("Choose where to send it."))
        refusal = shipping_refusal(item=item, country=address.country.code, campaign=campaign)
        if refusal:
            raise Refused(refusal)
        order.shipping_address = address.snapshot()
        order.shipping_fee = Decimal("0.00") if test else shipping_fee(item=item, user=user)
    order.save(force_insert=True)
    if (
        item.kind == CatalogItem.Kind.PHYSICAL
        and not test
        and not reward_services.stock_reserve(item=item, order=order)
    ):
        raise Refused(_("%(item)s is out of stock. Please choose another reward.") % {"item": item.name})
    OrderEvent.objects.create(order=order, status=Order.Status.PLACED)
    if order.shipping_fee:
        reward_services.shipping_fee_bill(order=order, campaign=campaign)
    fulfil_order.delay(str(order.pk))  # published when the transaction commits
    return order


# --- The reward store -------------------------------------------------------------------------


def store_checkout(*, user: User, store_item: StoreItem, address: Address | None = None) -> Order:
    """Buy a store item with the brand's credit: the balance never goes below zero, whatever the
    concurrency (a conditional UPDATE takes the price or nothing)."""
    if not store_item.active or not store_item.item.active:
        raise Refused(_("This item is no longer in the store."))
    with transaction.atomic():
        wallet = Wallet.objects.filter(brand_id=store_item.brand_id, user=user).first()
        if wallet is None or not Wallet.objects.filter(pk=wallet.pk, balance__gte=store_item.price).update(
            balance=F("balance") - store_item.price
        ):
            raise Refused(_("Not enough credit for this item."))
        order = _place_order(
            user=user,
            brand=store_item.brand,
            item=store_item.item,
            address=address,
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


def wallet_credit(*, order: Order, amount: Decimal) -> bool:
    """Credit a reward to the account's wallet for the order's brand, once per order; True if it did."""
    with transaction.atomic():
        wallet, _created = Wallet.objects.get_or_create(brand_id=order.brand_id, user=order.user)
        try:
            with transaction.atomic():
                WalletEntry.objects.create(
                    brand_id=order.brand_id, wallet=wallet, kind=WalletEntry.Kind.REWARD, amount=amount, order=order
                )
        except IntegrityError:
            return False  # already credited (a retried task)
        Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)
    return True


def order_move(*, order: Order, to: str, note: str = "", **fields) -> bool:
    """Move an order to a new status once (conditional UPDATE), with a timeline entry."""
    allowed_from = {
        Order.Status.FULFILLED: {Order.Status.PLACED, Order.Status.SHIPPED},
        Order.Status.SHIPPED: {Order.Status.PLACED},
        Order.Status.FAILED: {Order.Status.PLACED},
        Order.Status.CANCELLED: {Order.Status.PLACED, Order.Status.FAILED},
    }[to]
    with transaction.atomic():
        # The order's moment moves with it: both locked in the one order (rewards/locks.py).
        lock_money(
            brand_id=order.brand_id, moment_ids=[order.moment_id] if order.moment_id else [], order_ids=[order.pk]
        )
        moved = Order.objects.filter(pk=order.pk, status__in=allowed_from).update(
            status=to, updated_at=timezone.now(), **fields
        )
        if moved:
            OrderEvent.objects.create(order=order, status=to, note=note)
            if to == Order.Status.SHIPPED or (
                to == Order.Status.FULFILLED and order.item.kind == CatalogItem.Kind.DIGITAL_CODE
            ):
                send_order_update.delay(str(order.pk))
            if to in {Order.Status.FULFILLED, Order.Status.SHIPPED}:
                _announce_fulfilled(order, to)
            if order.moment_id and to in {Order.Status.FULFILLED, Order.Status.SHIPPED}:
                Moment.objects.filter(pk=order.moment_id, status=Moment.Status.CLAIMED).update(
                    status=Moment.Status.FULFILLED, fulfilled_at=timezone.now()
                )
    return bool(moved)


def order_cancel(*, order: Order, reason: str) -> bool:
    """The operator calls off an order not yet sent (placed, or failed at an outside service): its
    stock goes back on the shelf, the shipping fee and the moment's CPA go back to the brand, credit
    spent on it goes back to the wallet, and the customer sees why on the order page. Once only."""
    reason = reason.strip()
    if not reason:
        raise Refused(_("Say why the order is cancelled."))
    with transaction.atomic():
        # Every lock this takes, in the order every money path takes them (rewards/locks.py). An
        # outside fulfilment service acting on the order holds a lease: no cancel meanwhile.
        order = Order.objects.select_related("item", "moment").get(pk=order.pk)
        if order.moment_id:
            lock_money(**reward_services.refund_locks(moment=order.moment, now=timezone.now()), order_ids=[order.pk])
        else:
            lock_money(brand_id=order.brand_id, order_ids=[order.pk])
        if Order.objects.filter(pk=order.pk, provider_lease_until__isnull=False).exists():
            raise Refused(_("The fulfilment service may be shipping this order: cancel it once the service answers."))
        if not order_move(order=order, to=Order.Status.CANCELLED, note=reason):
            return False
        if order.shipping_fee:
            reward_services.shipping_fee_refund(order=order)
        if order.moment_id:
            reward_services.moment_cancel(moment=order.moment, reason=reason, claimed=True)
        # The wallet before the stock, as a store checkout takes them: the two never wait in a cycle.
        if order.credit_spent and order.user_id:  # a deleted account's wallet went with it
            wallet = Wallet.objects.get(brand_id=order.brand_id, user_id=order.user_id)
            WalletEntry.objects.create(
                brand_id=order.brand_id,
                wallet=wallet,
                kind=WalletEntry.Kind.REFUND,
                amount=order.credit_spent,
                order=order,
            )
            Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + order.credit_spent)
        test = order.moment_id is not None and order.moment.mode == Mode.TEST
        if order.item.kind == CatalogItem.Kind.PHYSICAL and not test:
            reward_services.stock_release(item=order.item, order=order)
    return True


def _announce_fulfilled(order: Order, status: str) -> None:
    moment = order.moment
    webhooks.emit(
        brand=order.brand,
        event_type="order.fulfilled",
        data={
            "order": str(order.pk),
            "moment": str(moment.pk) if moment else None,
            "campaign": moment.campaign.slug if moment else None,
            "user_id": moment.user_id if moment else None,
            "reward": order.item.sku,
            "status": status,
        },
    )


# --- Addresses and the account ----------------------------------------------------------------


def address_save(*, address: Address) -> Address:
    address.full_clean()
    address.save()
    return address


def address_delete(*, address: Address) -> None:
    address.delete()


def brand_unlink(*, link: BrandLink) -> None:
    """Unlink a brand: rewards already claimed stay; new ones of that brand user can link again."""
    link.delete()


def account_language_set(*, user: User, language: str) -> None:
    """Remember the language the person shops in, for the emails a worker sends them later."""
    if language != user.language:
        User.objects.filter(pk=user.pk).update(language=language)
        user.language = language


def account_export(*, user: User) -> dict:
    """Everything the platform holds about the account, as JSON-ready data."""

    def iso(value):
        return value.isoformat() if value else None

    return {
        "account": {
            "email": user.email,
            "joined": iso(user.date_joined),
            "free_shipping_member": user.free_shipping_member,
            "language": user.language,
        },
        "linked_brands": [
            {"brand": link.brand.name, "brand_user_id": link.brand_user_id, "linked": iso(link.created_at)}
            for link in user.brand_links.select_related("brand")
        ],
        "addresses": [address.snapshot() for address in user.addresses.all()],
        "moments": [
            {
                "id": str(moment.id),
                "brand": moment.brand.name,
                "campaign": moment.campaign.name,
                "status": moment.status,
                "earned": iso(moment.earned_at),
                "expires": iso(moment.expires_at),
                "claimed": iso(moment.claimed_at),
            }
            for moment in moments_of_account(user)
        ],
        "orders": [
            {
                "id": str(order.id),
                "brand": order.brand.name,
                "item": order.item.name,
                "status": order.status,
                "placed": iso(order.created_at),
                "shipping_address": order.shipping_address,
                "carrier": order.carrier,
                "tracking_number": order.tracking_number,
                "timeline": [{"status": event.status, "at": iso(event.at)} for event in order.events.all()],
            }
            for order in user.orders.select_related("brand", "item").prefetch_related("events")
        ],
        "wallets": [
            {
                "brand": wallet.brand.name,
                "balance": str(wallet.balance),
                "entries": [
                    {"kind": entry.kind, "amount": str(entry.amount), "at": iso(entry.created_at)}
                    for entry in wallet.entries.all()
                ],
            }
            for wallet in user.wallets.select_related("brand").prefetch_related("entries")
        ],
    }


def account_delete(*, user: User) -> None:
    """Delete the account: links, addresses and wallets go; orders stay, unattributed, for the
    brands' accounts (their shipping addresses are erased)."""
    with transaction.atomic():
        Order.objects.filter(user=user).update(shipping_address=None)
        user.delete()

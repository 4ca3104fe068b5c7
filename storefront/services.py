"""Every state change of the end user's side: claims (binding a moment to an account, linking the
brand's user id), addresses and accounts. What moves money or stock — placing, paying for and
cancelling orders — is rewards.orders'; its `Refused` is the storefront's refusal too."""

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.db import IntegrityError, OperationalError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from config.errors import lock_timed_out
from rewards import clock
from rewards.models import CatalogItem, Mode, Moment, Order
from rewards.moments import services as moments
from rewards.orders import services as orders
from rewards.orders.services import Refused
from storefront.models import Address, BrandLink
from storefront.selectors import moments_of_account
from tenants.models import User

__all__ = ["Refused"]  # the storefront's views catch it from here


# --- Claims -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClaimState:
    """What a claim link can do now: `claimable`, or why not (`expired`, `cancelled`, `used`)."""

    name: str

    @property
    def claimable(self):
        return self.name == "claimable"


def claim_state(moment: Moment, now=None) -> ClaimState:
    """`now`: by the moment's mode's clock (None: read it; a test moment's is its brand's test clock)."""
    now = now or clock.mode_now(moment.brand, moment.mode)
    if moment.status == Moment.Status.CANCELLED:
        return ClaimState("cancelled")
    if moment.status == Moment.Status.EXPIRED or (moment.status == Moment.Status.EARNED and moment.expires_at <= now):
        return ClaimState("expired")
    if moment.status != Moment.Status.EARNED:
        return ClaimState("used")
    return ClaimState("claimable")


def link_conflict(*, user: User, moment: Moment) -> str | None:
    """Why this account may not take this moment (a link to another account or user id), or None."""
    links = BrandLink.objects.filter(brand=moment.brand_id).filter(
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


def claim_confirm(*, user: User, moment: Moment, item: CatalogItem, address: Address | None = None) -> Order:
    """Bind the moment to the account, link the brand's user id, and place the order — once.

    The moment row is locked first, so two confirmations at the same time make one order; the
    second finds the moment claimed and is refused.
    """
    now = clock.mode_now(moment.brand, moment.mode)  # a test claim is made at its test clock's time
    if not EmailAddress.objects.filter(user=user, verified=True).exists():
        raise Refused(_("Please verify your email address first."))
    try:
        return _claim(user=user, moment=moment, item=item, address=address, now=now)
    except OperationalError as exc:
        if not lock_timed_out(exc):
            raise
        # A row it needed (the moment, the item's stock) stayed locked past the lock timeout.
        raise Refused(_("Many rewards are being claimed right now. Please try again in a moment.")) from exc


def _claim(*, user: User, moment: Moment, item: CatalogItem, address: Address | None, now) -> Order:
    with transaction.atomic():
        moment = moments.moment_lock(moment=moment)
        state = claim_state(moment, now)
        if not state.claimable:
            raise Refused(str(CLAIM_STATE_MESSAGES[state.name]))
        # A test moment links nothing: a test user id must never hold a real customer's place.
        if moment.mode == Mode.LIVE:
            conflict = link_conflict(user=user, moment=moment)
            if conflict:
                raise Refused(conflict)
            _link(user=user, moment=moment)
        return orders.moment_claim(
            moment=moment, user=user, item=item, shipping_address=address.snapshot() if address else None, now=now
        )


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
        orders.orders_forget_address(user=user)
        user.delete()

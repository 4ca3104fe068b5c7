"""Wallets: an account's credit in one brand's reward store, a ledger of entries whose sum is the
balance, moved together with an entry and never below zero (a conditional UPDATE)."""

from decimal import Decimal

from django.db import IntegrityError, transaction
from django.db.models import F

from rewards.wallets.models import Wallet, WalletEntry
from tenants.models import User


def wallet_credit(*, order, amount: Decimal) -> bool:
    """Credit a reward to the account's wallet for the order's brand and mode (a test order's
    credit goes to the test wallet), once per order; True if it did."""
    with transaction.atomic():
        wallet, _created = Wallet.objects.get_or_create(brand_id=order.brand_id, user=order.user, mode=order.mode)
        try:
            with transaction.atomic():
                WalletEntry.objects.create(
                    brand_id=order.brand_id, wallet=wallet, kind=WalletEntry.Kind.REWARD, amount=amount, order=order
                )
        except IntegrityError:
            return False  # already credited (a retried task)
        Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + amount)
    return True


def wallet_take(*, brand_id, user: User, mode: str, amount: Decimal) -> Wallet | None:
    """Take `amount` from the account's wallet of `mode` at the brand, or nothing (None) if it holds
    less: whatever the concurrency, the balance never goes below zero. The caller writes the entry."""
    wallet = Wallet.objects.filter(brand_id=brand_id, user=user, mode=mode).first()
    if wallet is None or not Wallet.objects.filter(pk=wallet.pk, balance__gte=amount).update(
        balance=F("balance") - amount
    ):
        return None
    return wallet


def wallet_refund(*, order) -> None:
    """Credit spent on a cancelled order goes back to the wallet it came from."""
    wallet = Wallet.objects.get(brand_id=order.brand_id, user_id=order.user_id, mode=order.mode)
    WalletEntry.objects.create(
        brand_id=order.brand_id, wallet=wallet, kind=WalletEntry.Kind.REFUND, amount=order.credit_spent, order=order
    )
    Wallet.objects.filter(pk=wallet.pk).update(balance=F("balance") + order.credit_spent)

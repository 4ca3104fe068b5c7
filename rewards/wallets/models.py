"""Wallets: an account's credit in one brand's reward store, and its entries."""

import uuid
from decimal import Decimal

from django.db import models
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from rewards.fields import MONEY, Mode
from tenants.models import BrandOwned


class Wallet(BrandOwned):
    """An account's credit in one brand's reward store; `balance` is the sum of its entries,
    moved only together with an entry, and never below zero (a conditional UPDATE)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey("tenants.User", on_delete=models.CASCADE, related_name="wallets")
    # Test credit (a test moment's) goes to a test wallet, spent only in the store's test mode.
    mode = models.CharField(max_length=4, choices=Mode.choices, default=Mode.LIVE, editable=False)
    balance = models.DecimalField(default=Decimal("0.00"), **MONEY)

    class Meta:
        db_table = "storefront_wallet"  # made in storefront; moved here with its data (migration 0006)
        constraints = [
            models.UniqueConstraint(fields=["brand", "user", "mode"], name="wallet_one_per_brand_mode"),
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="wallet_never_negative"),
        ]

    def __str__(self):
        return f"Wallet {self.pk} at {self.brand}: {self.balance}"


class WalletEntry(BrandOwned):
    class Kind(models.TextChoices):
        REWARD = "reward", _("reward credit")
        PURCHASE = "purchase", _("store purchase")
        REFUND = "refund", _("refund")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    wallet = models.ForeignKey(Wallet, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**MONEY)
    order = models.ForeignKey(
        "rewards.Order", null=True, blank=True, on_delete=models.PROTECT, related_name="wallet_entries"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "storefront_walletentry"  # made in storefront; moved here with its data (migration 0006)
        ordering = ["-created_at"]
        verbose_name_plural = _("wallet entries")
        constraints = [
            # One reward credit per order: a retried fulfilment cannot credit twice.
            models.UniqueConstraint(
                fields=["order"], condition=models.Q(kind="reward"), name="wallet_reward_once_per_order"
            )
        ]

"""Where Django finds the app's models. They live in rewards' sub-packages, each beside its services
(DESIGN.md §2); code inside `rewards` imports them from there, the layers above may import them here."""

from rewards.campaigns.models import Campaign, CampaignReward, action_validator, slug_validator
from rewards.catalog.models import (
    PLATFORM_EXCLUDED_COUNTRIES,
    CatalogItem,
    Charity,
    DigitalCode,
    PlatformPolicy,
    StockMovement,
    sku_validator,
)
from rewards.earning.models import Event, EventKey, Progress
from rewards.fields import MONEY, QUANTITY, Mode
from rewards.ledger.models import BrandSpend, CampaignSpend, LedgerEntry
from rewards.moments.models import Donation, Moment
from rewards.orders.models import Order, OrderEvent, StoreItem
from rewards.reports.models import CampaignReport, CapAlert
from rewards.wallets.models import Wallet, WalletEntry
from rewards.webhooks.models import WebhookDelivery

__all__ = [
    "MONEY",
    "PLATFORM_EXCLUDED_COUNTRIES",
    "QUANTITY",
    "BrandSpend",
    "Campaign",
    "CampaignReport",
    "CampaignReward",
    "CampaignSpend",
    "CapAlert",
    "CatalogItem",
    "Charity",
    "DigitalCode",
    "Donation",
    "Event",
    "EventKey",
    "LedgerEntry",
    "Mode",
    "Moment",
    "Order",
    "OrderEvent",
    "PlatformPolicy",
    "Progress",
    "StockMovement",
    "StoreItem",
    "Wallet",
    "WalletEntry",
    "WebhookDelivery",
    "action_validator",
    "sku_validator",
    "slug_validator",
]

"""The app's admin, where Django looks for it: each sub-package registers its own models' admins
(rewards/<sub-package>/admin.py) when imported here."""

from rewards.campaigns import admin as campaigns_admin
from rewards.catalog import admin as catalog_admin
from rewards.earning import admin as earning_admin
from rewards.ledger import admin as ledger_admin
from rewards.moments import admin as moments_admin
from rewards.orders import admin as orders_admin
from rewards.reports import admin as reports_admin
from rewards.sandbox import admin as sandbox_admin
from rewards.webhooks import admin as webhooks_admin

REGISTERED_BY = [
    campaigns_admin,
    catalog_admin,
    earning_admin,
    ledger_admin,
    moments_admin,
    orders_admin,
    reports_admin,
    sandbox_admin,
    webhooks_admin,
]

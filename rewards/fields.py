"""What the sub-packages' models share: money and quantity fields, and the mode of the key."""

from decimal import Decimal

from tenants.models import ApiKey

MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 15, "decimal_places": 3}

Mode = ApiKey.Mode  # an event, its progress and its moments carry the mode of the key that sent it


CENT = Decimal("0.01")


def money(value) -> Decimal:
    """An amount read back from the database, in cents: SQLite keeps and sums decimals as binary
    floats (3.10 × 9 = 27.900000000000002), PostgreSQL as exact decimals; None is zero."""
    return Decimal(str(value or 0)).quantize(CENT)

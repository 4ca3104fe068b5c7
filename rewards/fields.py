"""What the sub-packages' models share: money and quantity fields, and the mode of the key."""

from tenants.models import ApiKey

MONEY = {"max_digits": 12, "decimal_places": 2}
QUANTITY = {"max_digits": 15, "decimal_places": 3}

Mode = ApiKey.Mode  # an event, its progress and its moments carry the mode of the key that sent it

"""The domain's refusals: services raise them, the API's one handler (config/errors.py) answers
with the envelope of DESIGN.md §5."""

from django.utils.translation import gettext as _

from config.errors import DomainError


class InvalidState(DomainError):
    """A status change the object's current status does not allow (a campaign's, a moment's)."""

    status = 409
    code = "invalid_status"


class IdempotencyConflict(DomainError):
    """An event_id already used with another body (or the key's other mode)."""

    status = 409
    code = "idempotency_conflict"

    def __init__(self):
        super().__init__("This event_id was already used with a different body.")


class BrandInactive(DomainError):
    """A suspended brand earns nothing."""

    status = 403
    code = "brand_suspended"

    def __init__(self, slug: str):
        super().__init__("This brand is suspended; contact the Moments operator.")


class WebhookUrlMissing(DomainError):
    """Nothing to send a webhook to: the brand has set no endpoint."""

    status = 409
    code = "webhook_url_missing"

    def __init__(self):
        super().__init__(_("This brand has no webhook URL: an owner sets one in the console (Brand, webhook URL)."))


class WebhookDisabled(DomainError):
    """The brand's endpoint failed for 5 days and Moments stopped sending to it."""

    status = 409
    code = "webhook_disabled"

    def __init__(self):
        super().__init__(
            _(
                "Webhooks to this brand's endpoint are disabled after 5 days of failures: fix the endpoint, "
                "then clear 'webhook disabled' on the brand in the console."
            )
        )

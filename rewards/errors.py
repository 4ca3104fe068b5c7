"""The domain's refusals: services raise them, the API's one handler (config/errors.py) answers
with the envelope of DESIGN.md §5."""

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

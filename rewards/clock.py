"""Each mode's clock: the real one for live mode, the brand's test clock for test mode (DESIGN.md §5).

A brand's developer moves its test clock forward to see, without waiting, what time does to test
rows: the month roll, claim expiry, campaign start and end. Live rows only ever read the real clock.
"""

from datetime import UTC, datetime, timedelta

from django.db.models import DateTimeField, ExpressionWrapper, F, Q, Value
from django.utils import timezone

from rewards.fields import Mode
from tenants.models import Brand


def mode_now(brand: Brand, mode: str, now: datetime | None = None) -> datetime:
    """Now in `mode` for this brand: `now` (the real now when None) in live mode, plus the brand's
    test clock offset in test mode — read from its row, as the clock stands now (a brand copy may
    come from a cache: the API key's)."""
    now = now or timezone.now()
    if mode != Mode.TEST:
        return now
    return now + test_clock_offset(brand)


def test_clock_offset(brand: Brand) -> timedelta:
    offset = Brand.objects.filter(pk=brand.pk).values_list("test_clock_offset", flat=True).first()
    return offset or timedelta(0)


def utc_iso(moment: datetime) -> str:
    """A time as the API and the webhooks write it: ISO-8601 in UTC, with `Z`."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def passed(field: str, now: datetime, *, brand_path: str = "brand") -> Q:
    """Rows of either mode whose `field` has passed by their own mode's clock: `now` for live rows,
    `now` plus their brand's test clock offset for test rows (the beat's sweeps, one query)."""
    test_now = ExpressionWrapper(Value(now) + F(f"{brand_path}__test_clock_offset"), output_field=DateTimeField())
    return Q(mode=Mode.LIVE, **{f"{field}__lte": now}) | Q(mode=Mode.TEST, **{f"{field}__lte": test_now})

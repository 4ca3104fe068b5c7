"""A brand developer's sandbox: the test clock, and what moving it does to the brand's test world."""

from dataclasses import dataclass
from datetime import datetime

from rewards.campaigns import services as campaigns
from rewards.moments import services as moments
from tenants import services as tenants
from tenants.models import ApiKey, Brand, User


@dataclass(frozen=True)
class ClockMove:
    """What one move of the test clock did to the brand's test world."""

    brand: Brand
    expired_moments: int
    ended_campaigns: int


def test_clock_advance(*, brand: Brand, to: datetime, actor: User | ApiKey | None) -> ClockMove:
    """Move the brand's test clock to `to`, then do at once what the beat would do by then to its
    test rows: end the test campaigns past their end date, expire the unclaimed test moments past
    their claim window (each with its refund line in the test ledger and its `moment.expired`
    webhook). The month roll needs nothing: test counters are keyed by the test clock's month, so a
    test campaign capped last month earns again. Live rows and the real clock are left alone.

    The move is in the brand's audit trail by `actor` (a staff user, or the test key of an API
    call), written with it; what the sweeps then do is the platform's own, each in its transaction
    (an ended campaign has its own entry, by the system)."""
    brand = tenants.brand_test_clock_advance(brand=brand, to=to, actor=actor)
    return ClockMove(
        brand=brand,
        ended_campaigns=campaigns.campaigns_end_due(test_world_of=brand),
        expired_moments=moments.moments_expire(test_world_of=brand),
    )

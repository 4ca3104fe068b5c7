"""A moment after it is earned: expiry of unclaimed ones and cancellation, each crediting the
CPA back through the ledger."""

from django.core.exceptions import ValidationError
from django.db import OperationalError, transaction
from django.utils import timezone

from config.errors import lock_timed_out
from rewards import clock
from rewards.errors import InvalidState
from rewards.fields import Mode
from rewards.ledger import services as ledger
from rewards.ledger.locks import lock_money
from rewards.moments.models import Moment
from rewards.webhooks import services as webhooks
from tenants import audit
from tenants.models import User


def moments_expire(*, now=None, test_world_of=None, batch: int = 500) -> int:
    """Expire unclaimed moments past their claim window, by their mode's clock, credit their CPA
    back (DESIGN.md §3) and tell the brand (`moment.expired`); only the test moments of the brand
    `test_world_of` when given (its test clock has just moved).

    One transaction per moment, locking through `lock_money` like every money path: a sweep holds
    a brand's month counter for one refund at a time, never for hundreds across brands. A claim
    confirmed at the same instant, or a second sweeper, finds the moment moved and leaves it. They
    hold no stock (stock is reserved by an order, at the claim), so nothing else is released.
    """
    now = now or timezone.now()
    expired, busy = 0, set()
    while True:
        due = Moment.objects.filter(clock.passed("expires_at", now), status=Moment.Status.EARNED)
        if test_world_of is not None:
            due = due.filter(brand=test_world_of).filter(mode=Mode.TEST)
        due = list(due.exclude(pk__in=busy).order_by("expires_at").values_list("pk", flat=True)[:batch])
        for moment_id in due:
            try:
                with transaction.atomic():
                    moment = Moment.objects.select_related("brand", "campaign").get(pk=moment_id)
                    moment_now = clock.mode_now(moment.brand, moment.mode, now)
                    lock_money(
                        **ledger.refund_locks(moment=moment, now=moment_now),
                        rows=[Moment.objects.filter(pk=moment.pk)],
                    )
                    if Moment.objects.filter(pk=moment.pk, status=Moment.Status.EARNED).update(
                        status=Moment.Status.EXPIRED
                    ):
                        ledger.refund(moment, moment_now, note="expired unclaimed")
                        _announce_expired(moment, moment_now)
                        expired += 1
            except OperationalError as exc:
                if not lock_timed_out(exc):
                    raise
                busy.add(moment_id)  # its locks stayed taken past the lock timeout: the next sweep
        if len(due) < batch:
            return expired


def moment_webhook_data(moment: Moment, **extra) -> dict:
    """A moment in a `moment.*` webhook's `data` (`moment.earned` shows it as the API does)."""
    return {
        "id": str(moment.pk),
        "campaign": moment.campaign.slug,
        "user_id": moment.user_id,
        **extra,
        "mode": moment.mode,
    }


def _announce_expired(moment: Moment, expired_at) -> None:
    webhooks.emit(
        brand=moment.brand,
        mode=moment.mode,
        event_type="moment.expired",
        data=moment_webhook_data(moment, expired_at=clock.utc_iso(expired_at)),
    )


def moment_lock(*, moment: Moment) -> Moment:
    """Lock the moment, in the money order (rewards/ledger/locks.py), inside the caller's
    transaction, and read it as it is now: a claim checks it and places its order under the lock,
    so two confirmations at once make one order."""
    lock_money(brand_id=moment.brand_id, rows=[Moment.objects.filter(pk=moment.pk)])
    return Moment.objects.select_related("campaign", "brand").get(pk=moment.pk)


def moment_cancel(*, moment: Moment, reason: str, actor: User | None, claimed: bool = False) -> Moment:
    """Cancel an unclaimed moment (or, with `claimed`, one whose order the operator called off) and
    credit its CPA back (DESIGN.md §3: brands pay for rewards that reach a customer). A refund in
    the month of the charge lowers that month's counters. In the audit trail under the moment's
    id (an order's cancellation writes its own entry beside it)."""
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": ValidationError("Say why the moment is cancelled.", code="required")})
    now = clock.mode_now(moment.brand, moment.mode)
    from_status = Moment.Status.CLAIMED if claimed else Moment.Status.EARNED
    with transaction.atomic():
        lock_money(**ledger.refund_locks(moment=moment, now=now), rows=[Moment.objects.filter(pk=moment.pk)])
        cancelled = Moment.objects.filter(pk=moment.pk, status=from_status).update(
            status=Moment.Status.CANCELLED, cancelled_at=now, cancel_reason=reason[:240]
        )
        moment.refresh_from_db()
        if not cancelled:
            raise InvalidState(f"Only an {from_status.label} moment can be cancelled; this one is {moment.status}.")
        ledger.refund(moment, now, note=f"cancelled: {reason}"[:240])
        audit.record(
            actor=actor,
            brand=moment.brand,
            action=audit.Action.MOMENT_CANCEL,
            obj=moment,
            before={"status": from_status},
            after={"status": moment.status, "cancel_reason": moment.cancel_reason, "refunded": moment.cpa},
        )
    return moment

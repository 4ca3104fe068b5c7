"""Cap alerts: a brand's owners get one email when, at this month's pace, a cap (the brand's or a
campaign's) will be reached before the month ends, and one when it is reached."""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from config.emails import send_in_language
from rewards.fields import Mode
from rewards.reports.models import CapAlert
from rewards.reports.selectors import Forecast, brand_dashboard
from tenants.models import Brand, Membership, Role
from tenants.scoping import brand_scope


def cap_alerts_send(*, now=None) -> int:
    """Every active brand, each read in its own scope: send what is due, once per cap, month and
    kind (the alert row is written, and committed, before its email is sent). How many were sent."""
    now = now or timezone.now()
    sent = 0
    for brand in Brand.objects.filter(status=Brand.Status.ACTIVE).order_by("pk"):
        with brand_scope(brand):
            sent += _brand_alerts(brand, now)
    return sent


def _brand_alerts(brand, now) -> int:
    dashboard = brand_dashboard(brand=brand, mode=Mode.LIVE, now=now)
    due = [(None, brand.name, dashboard.forecast)]
    due += [(line.campaign, line.campaign.name, line.forecast) for line in dashboard.campaigns]
    sent = 0
    for campaign, name, forecast in due:
        kind = _kind(forecast)
        if kind is None or not _record(brand, campaign, dashboard.period, kind):
            continue
        _email_owners(brand, campaign=campaign, name=name, kind=kind, forecast=forecast)
        sent += 1
    return sent


def _kind(forecast: Forecast | None) -> str | None:
    if forecast is None:
        return None
    if forecast.reached:
        return CapAlert.Kind.REACHED
    return CapAlert.Kind.FORECAST if forecast.before_month_end else None


def _record(brand, campaign, period, kind) -> bool:
    """Write the alert once: False when it was sent already (by this sweep before, or another)."""
    try:
        with transaction.atomic():
            CapAlert.objects.create(brand=brand, campaign=campaign, period=period, kind=kind)
    except IntegrityError:
        return False
    return True


def _email_owners(brand, *, campaign, name, kind, forecast) -> None:
    owners = Membership.objects.filter(brand=brand, role=Role.OWNER).select_related("user")
    console = settings.SITE_URL + (
        reverse("admin:rewards_campaignreport_change", args=[campaign.pk]) if campaign else reverse("admin:index")
    )
    for owner in owners:
        context = {
            "brand": brand,
            "name": name,
            "campaign": campaign,
            "kind": kind,
            "forecast": forecast,
            "url": console,
        }
        send_in_language(template="cap_alert", context=context, language=owner.user.language, to=owner.user.email)

"""Reads of moments."""

from rewards.moments.models import Moment


def moments_of_user(*, brand, mode: str, user_id: str):
    return (
        Moment.objects.filter(brand=brand)
        .filter(mode=mode, user_id=user_id)
        .select_related("campaign")
        .order_by("-earned_at", "-id")
    )

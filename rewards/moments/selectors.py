"""Reads of moments."""

from rewards.moments.models import Moment


def moments_of_brand(*, brand, mode: str):
    """The brand's moments in one mode (test and live are apart), with their campaigns."""
    return Moment.objects.filter(brand=brand, mode=mode).select_related("campaign")


def moments_of_user(*, brand, mode: str, user_id: str):
    return moments_of_brand(brand=brand, mode=mode).filter(user_id=user_id).order_by("-earned_at", "-id")

"""Claim tokens: the secret part of a moment's claim URL.

A token is an HMAC of the moment's id under CLAIM_TOKEN_SECRET (256 bits, unforgeable without the
secret); the database keeps only its SHA-256, to find the moment a presented token belongs to.
Being derived, the token never has to be stored to be shown again (an event replay, GET /moments).
"""

import base64
import hashlib

from django.conf import settings
from django.urls import reverse
from django.utils.crypto import salted_hmac


def claim_token(moment_id) -> str:
    digest = salted_hmac("moments.claim-token", str(moment_id), secret=settings.CLAIM_TOKEN_SECRET, algorithm="sha256")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def claim_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def claim_url(moment_id) -> str:
    return settings.SITE_URL + reverse("storefront:claim", kwargs={"token": claim_token(moment_id)})

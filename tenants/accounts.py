"""Signing in, for staff and customers alike: django-allauth's one flow, with its MFA.

The console's sign-in is allauth's (the admin's login form redirects there); this module holds what
the platform adds to it: staff land on the console, a password reset through an emailed link
verifies that email, and every failure is logged with the account and the client's address —
never the password, the code, nor the email itself (an unknown address is logged as a digest, the
same for every try, so repeated guesses at one address can still be told apart).
"""

import logging

from allauth.account import signals as account_signals
from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from allauth.mfa import signals as mfa_signals
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib.auth import signals as auth_signals
from django.dispatch import receiver
from django.urls import reverse
from django.utils.crypto import salted_hmac

from config.clients import client_address
from tenants.models import User

logger = logging.getLogger(__name__)


class AccountAdapter(DefaultAccountAdapter):
    def get_login_redirect_url(self, request):
        # A staff member who signed in without a `next` (the sign-in page's own link) meant the console.
        if request.user.is_staff:
            return reverse("admin:index")
        return super().get_login_redirect_url(request)


def needs_second_factor(user) -> bool:
    """Whether this staff member must set up an authenticator before the console opens."""
    return settings.STAFF_MFA_REQUIRED and user.is_staff and not is_mfa_enabled(user)


def email_digest(email: str) -> str:
    """A stable, keyed digest of an address: the same in every log line, useless to anyone without
    SECRET_KEY. `python manage.py shell -c "from tenants.accounts import email_digest; print(email_digest('…'))"`
    finds an address's lines."""
    return salted_hmac("moments.log-email", email.strip().lower(), algorithm="sha256").hexdigest()[:16]


def account_label(email: str | None) -> str:
    user = User.objects.filter(email__iexact=email).only("pk").first() if email else None
    if user is not None:
        return f"account={user.pk}"
    return f"account=unknown email_digest={email_digest(email or '')}"


@receiver(auth_signals.user_login_failed)
def log_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django passes the credentials with the password already replaced by stars; only the email is read.
    email = credentials.get("email") or credentials.get("username")
    logger.warning("sign-in failed: %s client=%s", account_label(email), client_address(request))


@receiver(mfa_signals.authentication_failed)
def log_failed_second_factor(sender, request, user, reauthentication, **kwargs):
    step = "re-authentication" if reauthentication else "sign-in"
    logger.warning("second factor failed (%s): account=%s client=%s", step, user.pk, client_address(request))


@receiver(account_signals.password_reset)
def verify_email_on_reset(sender, request, user, **kwargs):
    """Opening the reset link proved the inbox: the account's email is verified (a new staff member's
    first password is set this way, from the invitation, and the console's sign-in needs a verified
    email as the storefront's does)."""
    address = EmailAddress.objects.filter(user=user, email__iexact=user.email).first()
    if address is None:
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    elif not address.verified:
        address.verified = True
        address.save(update_fields=["verified"])

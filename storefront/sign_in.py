"""allauth's sign-in and second-factor pages, for customers and staff alike, with a locked account's
answer made plain: allauth refuses it with a form error on a 200; these answer 429 with Retry-After,
the page still saying why, and log the refusal (the failures before it are logged as they happen:
tenants/accounts.py)."""

import logging

from allauth.account.views import LoginView
from allauth.mfa.base.views import AuthenticateView
from django.conf import settings
from django.forms.forms import NON_FIELD_ERRORS

from config.clients import client_address
from tenants.accounts import account_label

logger = logging.getLogger(__name__)

LOCKED = "too_many_login_attempts"  # allauth's error code for an account or address over its limit


def locked_out(response, *, request, account: str):
    response.status_code = 429
    response["Retry-After"] = str(settings.SIGN_IN_LOCKOUT_SECONDS)
    logger.warning("sign-in refused, too many failures: %s client=%s", account, client_address(request))
    return response


class SignInView(LoginView):
    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, LOCKED):
            return locked_out(response, request=self.request, account=account_label(form.data.get("login")))
        return response


class SecondFactorView(AuthenticateView):
    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("code", LOCKED):
            return locked_out(response, request=self.request, account=f"account={form.user.pk}")
        return response

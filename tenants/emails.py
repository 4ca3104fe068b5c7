"""Emails of the tenants domain, sent by its tasks."""

from allauth.account.forms import default_token_generator
from allauth.account.utils import user_pk_to_url_str
from django.conf import settings
from django.urls import reverse

from config.emails import send_in_language
from tenants.models import Membership


def staff_invitation_send(*, membership_id) -> None:
    """Tell a person they joined a brand's console; a new account gets a link to set its password.

    Sending twice after a retry sends the same message twice, which is harmless; a removed
    membership sends nothing.
    """
    membership = Membership.objects.select_related("brand", "user").filter(pk=membership_id).first()
    if membership is None:
        return
    user = membership.user
    set_password_url = None
    if not user.has_usable_password():
        # allauth's reset link (the one password flow, with its rate limits): setting the password
        # through it also verifies the email, which the console's sign-in requires (tenants/accounts.py).
        path = reverse(
            "account_reset_password_from_key",
            kwargs={"uidb36": user_pk_to_url_str(user), "key": default_token_generator.make_token(user)},
        )
        set_password_url = settings.SITE_URL + path
    context = {
        "membership": membership,
        "set_password_url": set_password_url,
        "admin_url": settings.SITE_URL + reverse("admin:index"),
        "link_days": settings.PASSWORD_RESET_TIMEOUT // 86400,
    }
    send_in_language(template="staff_invitation", context=context, language=user.language, to=user.email)

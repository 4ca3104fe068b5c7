"""Emails written from templates, in the language of the person they go to (plumbing: no app)."""

from django.conf import settings
from django.core.mail import send_mail
from django.template import TemplateDoesNotExist
from django.template.loader import render_to_string
from django.utils import translation


def send_in_language(*, template: str, context: dict, language: str, to: str) -> None:
    """Render `emails/<template>_subject.txt`, `emails/<template>.txt` and, when there is one,
    `emails/<template>.html` (the HTML part) in `language` (the site's default when empty) and send
    them to one address."""
    with translation.override(language or settings.LANGUAGE_CODE):
        try:
            html = render_to_string(f"emails/{template}.html", context)
        except TemplateDoesNotExist:
            html = None
        send_mail(
            # The platform's name first, as in every account email (django-allauth's prefix).
            subject=settings.ACCOUNT_EMAIL_SUBJECT_PREFIX
            + render_to_string(f"emails/{template}_subject.txt", context).strip(),
            message=render_to_string(f"emails/{template}.txt", context),
            from_email=None,
            recipient_list=[to],
            html_message=html,
        )

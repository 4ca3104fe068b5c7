"""Deployment checks of our own, beside Django's (`manage.py check --deploy`)."""

from django.conf import settings
from django.core import checks

CONSOLE_EMAIL = "django.core.mail.backends.console.EmailBackend"


@checks.register(checks.Tags.security, deploy=True)
def emails_leave_the_machine(app_configs, **kwargs):
    """Without EMAIL_URL, emails are printed to the console: into the process's output, beside its
    logs, with the password-reset and confirmation links and the codes they carry."""
    if settings.EMAIL_BACKEND == CONSOLE_EMAIL and not settings.DEBUG:
        return [
            checks.Warning(
                "Emails are printed to the console, secrets in their links included.",
                hint="Set EMAIL_URL (e.g. smtp+tls://user:password@smtp.example.com:587).",
                id="moments.W001",
            )
        ]
    return []

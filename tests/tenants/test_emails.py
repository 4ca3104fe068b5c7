"""The console's invitation (issue 14, point 6): in the staff member's language, naming Moments,
each link alone on its line, a plain-text and an HTML part; both links open."""

import re

import pytest
from django.core import mail
from django.utils import translation
from django.utils.translation import gettext

from tenants.emails import staff_invitation_send
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("language", ["en", "ko", "th"])
def test_the_staff_invitation_comes_in_the_members_language_with_links_that_open(client, settings, language):
    settings.SITE_URL = "http://testserver"
    user = UserFactory(email=f"new-staff-{language}@example.com", language=language)
    user.set_unusable_password()
    user.save()
    membership = MembershipFactory(user=user, role="analyst")
    mail.outbox.clear()

    staff_invitation_send(membership_id=membership.pk)

    [message] = mail.outbox
    with translation.override(language):
        greeting = gettext("Hello from Moments!")
    assert message.subject.startswith("Moments: ") and greeting in message.body
    links = [line for line in message.body.splitlines() if "://" in line]
    assert len(links) == 2 and all(re.fullmatch(r"https?://\S+", line) for line in links), message.body
    [(html, kind)] = message.alternatives
    assert kind == "text/html" and all(f'href="{link}"' in html for link in links)
    set_password, console = (link.removeprefix("http://testserver") for link in links)
    assert client.get(set_password, follow=True).status_code == 200
    assert client.get(console, follow=True).status_code == 200  # the console's sign-in page

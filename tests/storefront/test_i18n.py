"""The storefront in English, Korean and Thai: the language from Accept-Language or the switcher,
catalogues complete and compiled, every template string marked, emails in the customer's language."""

import gettext
import re
from pathlib import Path

import polib
import pytest
from django.core import mail
from django.urls import reverse
from django.utils import translation

from rewards.claims import claim_token
from storefront import services
from storefront.models import Address, Order
from tests.factories import CatalogItemFactory
from tests.storefront.conftest import earn_moment, verified

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("ko", "th")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdf]|%[sdf]|\{\w*\}")


def in_language(code, text):
    with translation.override(code):
        return translation.gettext(text)


def catalogue(code):
    return polib.pofile(str(ROOT / "locale" / code / "LC_MESSAGES" / "django.po"))


@pytest.mark.parametrize("code", SHIPPED)
def test_the_browsers_language_picks_the_storefront_language(client, brand_a, code):
    moment = earn_moment(brand_a, CatalogItemFactory(kind="credit"))
    claim_path = reverse("storefront:claim", args=[claim_token(moment.pk)])

    for path in ("/", reverse("account_login"), claim_path):
        page = client.get(path, HTTP_ACCEPT_LANGUAGE=f"{code},en;q=0.5").content.decode()
        assert f'<html lang="{code}"' in page, path
        for english in ("Sign in", "Language"):
            assert in_language(code, english) != english
            assert in_language(code, english) in page, (path, english)


def test_an_unknown_language_falls_back_to_english(client):
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="fr-CH,de;q=0.8").content.decode()

    assert '<html lang="en"' in page and ">Sign in<" in page


def test_the_switcher_is_on_every_storefront_page_and_its_choice_sticks(client):
    user = verified()
    client.force_login(user)
    pages = ["/", reverse("storefront:rewards"), reverse("storefront:account"), reverse("storefront:address-new")]
    for path in pages:
        page = client.get(path).content.decode()
        assert '<label for="language-select">' in page and 'id="language-select" name="language"' in page, path

    switched = client.post(reverse("set_language"), {"language": "th", "next": reverse("storefront:rewards")})
    assert switched.status_code == 302 and switched["Location"] == reverse("storefront:rewards")

    for path in pages:  # no Accept-Language: the cookie decides
        page = client.get(path).content.decode()
        assert '<html lang="th"' in page and in_language("th", "My rewards") in page, path


@pytest.mark.parametrize("code", SHIPPED)
def test_every_message_is_translated_with_the_same_placeholders(code):
    entries = [entry for entry in catalogue(code) if not entry.obsolete]

    assert len(entries) > 250
    assert [e.msgid for e in entries if not e.translated() or e.fuzzy] == []
    for entry in entries:
        assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(PLACEHOLDER.findall(entry.msgstr)), entry.msgid


@pytest.mark.parametrize("code", SHIPPED)
def test_the_committed_mo_file_matches_its_po_file(code):
    with open(ROOT / "locale" / code / "LC_MESSAGES" / "django.mo", "rb") as compiled:
        mo = gettext.GNUTranslations(compiled)

    for entry in catalogue(code):
        if entry.obsolete:
            continue
        shown = mo.pgettext(entry.msgctxt, entry.msgid) if entry.msgctxt else mo.gettext(entry.msgid)
        assert shown == entry.msgstr, f"{entry.msgid!r}: run compilemessages"


def bare_text(template: str) -> list[str]:
    """Text a template shows that is not inside a translation tag."""
    for pattern in (
        r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}",
        r"{%\s*blocktranslate.*?endblocktranslate\s*%}",
        r"<(script|style)[^>]*>.*?</\1>",
        r"{%.*?%}|{{.*?}}|{#.*?#}",
    ):
        template = re.sub(pattern, " ", template, flags=re.S)
    words = []
    for attribute in re.findall(r'(?:aria-label|title|placeholder|alt)="([^"]*)"', template):
        words.append(attribute)
    words += re.sub(r"<[^>]+>", "\n", template).splitlines()
    return [w.strip() for w in words if re.search(r"[A-Za-z]{2,}", w) and w.strip(" ·") not in {"Moments", "USD"}]


def test_every_string_of_the_storefront_templates_is_marked_for_translation():
    folders = ["storefront", "account", "allauth"]
    templates = [ROOT / "templates" / "base.html", *(ROOT / "templates" / "emails").glob("order_*.txt")]
    templates += [path for folder in folders for path in (ROOT / "templates" / folder).rglob("*.*")]

    unmarked = {str(path.relative_to(ROOT)): bare_text(path.read_text()) for path in templates}

    assert len(templates) > 20
    assert {path: words for path, words in unmarked.items() if words} == {}


def test_a_bare_string_is_caught_by_that_check():
    assert bare_text('<p>{% translate "Fine" %}</p><p>Not marked</p><img alt="Logo">') == ["Logo", "Not marked"]


def test_the_order_email_goes_out_in_the_language_the_customer_claimed_in(
    client, brand_a, django_capture_on_commit_callbacks
):
    user = verified()
    speaker = CatalogItemFactory(kind="physical", sku="SPEAKER-KO")
    moment = earn_moment(brand_a, speaker)
    client.force_login(user)
    address = Address.objects.create(user=user, full_name="Kim", line1="1 Road", city="Seoul", country="KR")
    confirmed = client.post(
        reverse("storefront:claim-confirm", args=[claim_token(moment.pk), speaker.sku]),
        {"address": str(address.pk)},
        HTTP_ACCEPT_LANGUAGE="ko",
    )
    assert confirmed.status_code == 302
    user.refresh_from_db()
    assert user.language == "ko"

    order = Order.objects.get(moment=moment)
    with django_capture_on_commit_callbacks(execute=True):  # sent later by a worker, without the request
        services.order_move(order=order, to="shipped", carrier="CJ", tracking_number="CJ123")

    [email] = [m for m in mail.outbox if "CJ123" in m.body]
    with translation.override("ko"):
        expected_subject = translation.gettext("Your %(item)s is on its way") % {"item": speaker.name}
    assert email.subject == expected_subject != f"Your {speaker.name} is on its way"

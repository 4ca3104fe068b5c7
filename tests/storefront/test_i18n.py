"""The storefront in English, Korean and Thai: the language from Accept-Language or the switcher,
catalogues complete and compiled, every template string marked, emails in the customer's language,
and the strings that come from Django and django-countries (field errors, password rules, country
names, the CSRF page) in the customer's language too."""

import ast
import gettext
import html
import re
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.contrib.auth import password_validation
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.translation.template import templatize
from django_countries import countries

from rewards.models import Order, StoreItem
from rewards.moments.claims import claim_token
from rewards.orders import fulfilment
from rewards.orders import moves as order_moves
from rewards.orders import services as orders
from storefront.models import Address
from tests.factories import CatalogItemFactory
from tests.storefront.conftest import ADDRESS, PASSWORD, earn_moment, placed_order, verified

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ("ko", "th")
PLACEHOLDER = re.compile(r"%\(\w+\)[sdfr]|%[sdfr]|\{\w*\}")


def in_language(code, text):
    with translation.override(code):
        return translation.gettext(text)


def catalogue(code):
    return polib.pofile(str(ROOT / "locale" / code / "LC_MESSAGES" / "django.po"))


# Every catalogue the project ships: its own strings under locale/, and the Thai it adds for
# strings of Django and django-countries (storefront/translations/).
CATALOGUES = sorted(
    path.relative_to(ROOT) for base in settings.LOCALE_PATHS for path in Path(base).glob("*/LC_MESSAGES/django.po")
)


def translations(entry):
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


def text_of(response):
    return html.unescape(response.content.decode())


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


@pytest.mark.parametrize("code", SHIPPED)
def test_the_signed_in_pages_follow_the_browsers_language_too(client, brand_a, code):
    user = verified()
    order = placed_order(brand_a, CatalogItemFactory(kind="physical"), user=user)
    client.force_login(user)
    expected = {
        reverse("storefront:rewards"): "Orders",
        reverse("storefront:account"): "Linked brands",
        reverse("storefront:order", args=[order.pk]): "Tracking number",
    }

    for path, english in expected.items():
        page = client.get(path, HTTP_ACCEPT_LANGUAGE=code).content.decode()
        assert f'<html lang="{code}"' in page, path
        assert in_language(code, "My rewards") in page and ">My rewards<" not in page, path
        assert in_language(code, english) != english and in_language(code, english) in page, path


def test_an_unknown_language_falls_back_to_english(client):
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="fr-CH,de;q=0.8").content.decode()

    assert '<html lang="en"' in page and ">Sign in<" in page


def test_the_switcher_is_on_every_storefront_page_and_its_choice_sticks(client, brand_a):
    user = verified()
    moment = earn_moment(brand_a, CatalogItemFactory(kind="credit"))
    order = placed_order(brand_a, CatalogItemFactory(kind="physical"), user=user)
    StoreItem.objects.create(brand=brand_a, item=CatalogItemFactory(kind="physical"), price="5.00")
    client.force_login(user)
    pages = [
        "/",
        reverse("storefront:rewards"),
        reverse("storefront:account"),
        reverse("storefront:address-new"),
        reverse("storefront:order", args=[order.pk]),
        reverse("storefront:store", args=[brand_a.slug]),
        reverse("storefront:claim", args=[claim_token(moment.pk)]),
        reverse("storefront:delete-account"),
        reverse("account_change_password"),
    ]
    for path in pages:
        page = client.get(path).content.decode()
        assert '<label for="language-select">' in page and 'id="language-select" name="language"' in page, path
        assert f'action="{reverse("set_language")}"' in page, path

    switched = client.post(reverse("set_language"), {"language": "th", "next": reverse("storefront:rewards")})
    assert switched.status_code == 302 and switched["Location"] == reverse("storefront:rewards")

    for path in pages:  # no Accept-Language: the cookie decides
        page = client.get(path).content.decode()
        assert '<html lang="th"' in page and in_language("th", "My rewards") in page, path
    # and it beats the browser's language
    page = client.get(reverse("storefront:rewards"), HTTP_ACCEPT_LANGUAGE="ko").content.decode()
    assert '<html lang="th"' in page


def test_the_switcher_works_signed_out_and_offers_each_language_in_its_own_name(client):
    page = client.get(reverse("account_login")).content.decode()
    for code, _name in settings.LANGUAGES:
        name = translation.get_language_info(code)["name_local"]  # English, 한국어, ภาษาไทย
        assert f'<option value="{code}" lang="{code}"' in page and f">{name}</option>" in page

    client.post(reverse("set_language"), {"language": "ko", "next": reverse("account_login")})

    assert '<html lang="ko"' in client.get(reverse("account_login")).content.decode()


def test_the_project_ships_a_catalogue_per_language_and_the_thai_fill_ins():
    assert [str(path) for path in CATALOGUES] == [
        "locale/ko/LC_MESSAGES/django.po",
        "locale/th/LC_MESSAGES/django.po",
        "storefront/translations/th/LC_MESSAGES/django.po",
    ]
    assert all(len(catalogue(code)) > 250 for code in SHIPPED)


@pytest.mark.parametrize("path", CATALOGUES, ids=str)
def test_every_message_is_translated_with_the_same_placeholders(path):
    po = polib.pofile(str(ROOT / path))
    entries = [entry for entry in po if not entry.obsolete]

    assert po.metadata["Plural-Forms"].startswith("nplurals=1;")
    assert [e.msgid for e in entries if not e.translated() or e.fuzzy] == []
    for entry in entries:
        for text in translations(entry):
            assert text.strip(), entry.msgid
            assert sorted(PLACEHOLDER.findall(entry.msgid)) == sorted(PLACEHOLDER.findall(text)), entry.msgid
            if entry.msgid_plural:
                assert sorted(PLACEHOLDER.findall(entry.msgid_plural)) == sorted(PLACEHOLDER.findall(text))


@pytest.mark.parametrize("path", CATALOGUES, ids=str)
def test_the_committed_mo_file_matches_its_po_file(path):
    with open(ROOT / path.with_suffix(".mo"), "rb") as compiled:
        mo = gettext.GNUTranslations(compiled)

    for entry in polib.pofile(str(ROOT / path)):
        if entry.obsolete:
            continue
        if entry.msgid_plural:
            for n in (1, 2, 5):
                shown = mo.ngettext(entry.msgid, entry.msgid_plural, n)
                assert shown == entry.msgstr_plural[0], f"{entry.msgid!r}: run compilemessages"
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


@pytest.mark.parametrize("code", SHIPPED)
def test_every_country_has_its_name_in_the_language(code):
    with translation.override("en"):
        english = {country.code: country.name for country in countries}
    with translation.override(code):
        local = {country.code: country.name for country in countries}

    assert len(english) > 240
    assert sorted(name for country, name in english.items() if local[country] == name) == []


@pytest.mark.parametrize("code", SHIPPED)
def test_the_address_form_its_countries_and_its_errors_speak_the_language(client, code):
    client.force_login(verified())

    refused = text_of(
        client.post(
            reverse("storefront:address-new"),
            {**ADDRESS, "full_name": "K" * 130, "line1": "12\x00 Teheran-ro"},
            HTTP_ACCEPT_LANGUAGE=code,
        )
    )

    assert refused.count('class="errorlist') == 2
    for english in ("Null characters are not allowed.", "Ensure this value has at most", "South Korea", "Thailand"):
        assert english not in refused
    assert in_language(code, "Null characters are not allowed.") in refused
    with translation.override(code):
        assert countries.name("KR") in refused and countries.name("TH") in refused


@pytest.mark.parametrize("code", SHIPPED)
def test_the_sign_up_pages_password_rules_and_errors_speak_the_language(client, code):
    def rules_and_errors():
        try:
            password_validation.validate_password("1234")
        except ValidationError as exc:
            return password_validation.password_validators_help_texts() + exc.messages
        raise AssertionError("1234 passed the password rules")

    with translation.override("en"):
        english = rules_and_errors()
    with translation.override(code):
        local = rules_and_errors()

    page = text_of(
        client.post(
            reverse("account_signup"),
            {"email": "new@example.com", "password1": "1234", "password2": "1234"},
            HTTP_ACCEPT_LANGUAGE=code,
        )
    )

    assert len(local) == 7 and not set(local) & set(english)
    assert [text for text in local if text not in page] == []
    assert [text for text in english if text in page] == []


@pytest.mark.parametrize("code", SHIPPED)
def test_the_page_a_form_without_its_csrf_token_gets_speaks_the_language(code):
    browser = Client(enforce_csrf_checks=True)

    refused = browser.post(reverse("account_login"), {"login": "a@example.com"}, HTTP_ACCEPT_LANGUAGE=code)

    assert refused.status_code == 403
    for english in (
        "CSRF verification failed. Request aborted.",
        "You are seeing this message because this site requires a CSRF cookie when submitting forms. This cookie "
        "is required for security reasons, to ensure that your browser is not being hijacked by third parties.",
    ):
        assert in_language(code, english) != english
        assert in_language(code, english) in text_of(refused)


@pytest.mark.parametrize("code", SHIPPED)
def test_the_verification_email_comes_in_the_language_of_the_sign_up(client, code):
    client.post(
        reverse("account_signup"),
        {"email": "new@example.com", "password1": PASSWORD, "password2": PASSWORD},
        HTTP_ACCEPT_LANGUAGE=code,
    )

    [email] = mail.outbox
    subject = in_language(code, "Confirm your email address")
    assert subject != "Confirm your email address"
    assert email.subject == f"{settings.ACCOUNT_EMAIL_SUBJECT_PREFIX}{subject}"
    assert "/accounts/confirm-email/" in email.body and "Hello from" not in email.body
    assert in_language(code, "Hello from Moments!") in email.body


def test_a_note_the_platform_writes_on_an_order_is_shown_in_the_customers_language(client, brand_a):
    user = verified()
    order = placed_order(brand_a, CatalogItemFactory(kind="physical"), user=user)
    order_moves.order_move(order=order, to=Order.Status.FAILED, note=fulfilment.NOTE_REFUSED)
    client.force_login(user)

    page = text_of(client.get(reverse("storefront:order", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="th"))

    assert in_language("th", fulfilment.NOTE_REFUSED) in page and fulfilment.NOTE_REFUSED not in page


def test_an_operators_reason_shows_as_written_and_escaped(client, brand_a):
    user = verified()
    order = placed_order(brand_a, CatalogItemFactory(kind="physical"), user=user)
    orders.order_cancel(order=order, reason="Out of stock <b>sorry</b> 100%", actor=None)
    client.force_login(user)

    page = client.get(reverse("storefront:order", args=[order.pk]), HTTP_ACCEPT_LANGUAGE="ko").content.decode()

    assert "Out of stock &lt;b&gt;sorry&lt;/b&gt; 100%" in page


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
        order_moves.order_move(order=order, to="shipped", carrier="CJ", tracking_number="CJ123")

    [email] = [m for m in mail.outbox if "CJ123" in m.body]
    with translation.override("ko"):
        expected_subject = translation.gettext("Your %(item)s is on its way") % {"item": speaker.name}
        expected_line = translation.gettext("It has been shipped with %(carrier)s, tracking number %(tracking)s.") % {
            "carrier": "CJ",
            "tracking": "CJ123",
        }
    assert email.subject == f"Moments: {expected_subject}" != f"Moments: Your {speaker.name} is on its way"
    assert expected_line in email.body


def test_a_code_ready_email_goes_out_in_thai_for_a_customer_who_claimed_in_thai(
    client, brand_a, django_capture_on_commit_callbacks
):
    user = verified()
    card = CatalogItemFactory(kind="digital_code", sku="GC-TH")
    moment = earn_moment(brand_a, card)
    client.force_login(user)
    client.post(reverse("storefront:claim-confirm", args=[claim_token(moment.pk), card.sku]), HTTP_ACCEPT_LANGUAGE="th")
    order = Order.objects.get(moment=moment)

    with django_capture_on_commit_callbacks(execute=True):
        order_moves.order_move(order=order, to="fulfilled", digital_code="CODE-1")

    [email] = [m for m in mail.outbox if m.to == [user.email]]
    assert email.subject == "Moments: " + in_language("th", "Your %(item)s is ready") % {"item": card.name}
    assert in_language("th", "Your code is ready. Sign in to see it:") in email.body
    assert "CODE-1" not in email.body


GETTEXT_CALLS = {  # name: positions of (context, singular, plural), as makemessages reads them
    **dict.fromkeys(["_", "gettext", "gettext_lazy", "gettext_noop"], (None, 0, None)),
    **dict.fromkeys(["ngettext", "ngettext_lazy"], (None, 0, 1)),
    **dict.fromkeys(["pgettext", "pgettext_lazy"], (0, 1, None)),
    **dict.fromkeys(["npgettext", "npgettext_lazy"], (0, 1, 2)),
}


def marked_in_python(source: str):
    """(context, msgid) of each gettext call with literal text: what makemessages extracts."""
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GETTEXT_CALLS:
            continue
        literal = [isinstance(arg, ast.Constant) and isinstance(arg.value, str) for arg in node.args]
        args = [arg.value if is_text else None for arg, is_text in zip(node.args, literal, strict=True)]
        context, singular, _plural = GETTEXT_CALLS[name]
        if singular < len(args) and args[singular] is not None:
            yield (args[context] if context is not None else None), args[singular]


def marked_in_template(source: str, origin: str):
    """The same for a template, through Django's templatize (makemessages' own first step)."""
    python = templatize(source, origin=origin)  # Django's own step before xgettext
    calls = r"\b(?P<name>n?p?gettext|_)\((?P<args>(?:\s*u?(?:'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")\s*,?)+)"
    for call in re.finditer(calls, python):
        yield from marked_in_python(f"{call['name']}({call['args']})")


def test_the_catalogues_hold_every_string_marked_in_the_sources():
    sources = [
        path
        for folder in ("config", "tenants", "rewards", "storefront")
        for path in (ROOT / folder).rglob("*.py")
        if "migrations" not in path.parts
    ]
    marked = {entry for path in sources for entry in marked_in_python(path.read_text())}
    for path in (ROOT / "templates").rglob("*.*"):
        marked |= set(marked_in_template(path.read_text(), str(path)))

    assert (None, "Your reward is on its way.") in marked and (None, "Claim it by %(date)s.") in marked
    for code in SHIPPED:
        held = {(entry.msgctxt, entry.msgid) for entry in catalogue(code) if not entry.obsolete}
        assert sorted(marked - held, key=str) == [], f"run makemessages -l {code} and translate the new strings"

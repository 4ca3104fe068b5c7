"""The brand console: roles, API keys shown once, inviting staff, switching brands, suspension."""

import re
from urllib.parse import urlparse

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core import mail
from django.urls import reverse
from rest_framework.test import APIClient

from tenants import services
from tenants.admin_scoping import SESSION_BRAND_KEY
from tenants.models import ApiKey, Brand, Membership, User
from tests.factories import ApiKeyFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

KEY_PATTERN = re.compile(r"mk_(live|test)_[A-Za-z0-9]{40}")


def logged_in(client, user):
    client.force_login(user)
    return client


def api_status(secret):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get("/api/v1/me").status_code


# --- API keys ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "manager"])
def test_owners_and_managers_create_a_key_that_is_shown_once(role, brand_a, client):
    user = MembershipFactory(brand=brand_a, role=role).user
    logged_in(client, user)

    response = client.post(reverse("admin:tenants_apikey_add"), {"name": "Android backend", "mode": "live"})

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = KEY_PATTERN.search(response.content.decode()).group(0)
    key = ApiKey.objects.get()
    assert (key.brand, key.name, key.mode, key.created_by) == (brand_a, "Android backend", "live", user)
    assert api_status(secret) == 200
    # Never again: not on the list, not on the key's own page.
    for page in (reverse("admin:tenants_apikey_changelist"), reverse("admin:tenants_apikey_change", args=[key.pk])):
        assert secret not in client.get(page).content.decode()


def test_a_new_key_belongs_to_the_membership_brand_whatever_the_form_says(brand_a, brand_b, owner_a, client):
    logged_in(client, owner_a)

    client.post(reverse("admin:tenants_apikey_add"), {"name": "x", "mode": "test", "brand": str(brand_b.pk)})

    assert ApiKey.objects.get().brand == brand_a


def test_a_bad_key_form_shows_errors_and_creates_nothing(owner_a, client):
    logged_in(client, owner_a)

    response = client.post(reverse("admin:tenants_apikey_add"), {"name": "x", "mode": "prod"})

    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ApiKey.objects.exists()


def test_revoking_asks_first_then_the_key_stops_working(brand_a, owner_a, client, django_capture_on_commit_callbacks):
    key = ApiKeyFactory(brand=brand_a)
    logged_in(client, owner_a)
    revoke_url = reverse("admin:tenants_apikey_revoke", args=[key.pk])

    confirm_page = client.get(revoke_url)
    assert confirm_page.status_code == 200 and "cannot be undone" in confirm_page.content.decode()
    assert api_status(key.secret) == 200

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(revoke_url, {"confirm": "yes"})

    assert response.status_code == 302
    assert ApiKey.objects.get(pk=key.pk).is_revoked
    assert api_status(key.secret) == 401


def test_the_bulk_revoke_action_confirms_then_revokes_only_the_chosen(brand_a, owner_a, client):
    chosen, kept = ApiKeyFactory(brand=brand_a), ApiKeyFactory(brand=brand_a)
    logged_in(client, owner_a)
    changelist = reverse("admin:tenants_apikey_changelist")

    first = client.post(changelist, {"action": "revoke", ACTION_CHECKBOX_NAME: [str(chosen.pk)]})
    assert "Yes, revoke" in first.content.decode()
    assert not ApiKey.objects.get(pk=chosen.pk).is_revoked

    client.post(changelist, {"action": "revoke", ACTION_CHECKBOX_NAME: [str(chosen.pk)], "confirm": "yes"})

    assert ApiKey.objects.get(pk=chosen.pk).is_revoked
    assert not ApiKey.objects.get(pk=kept.pk).is_revoked


def test_a_revoked_key_can_no_longer_be_edited(brand_a, owner_a, client):
    key = ApiKeyFactory(brand=brand_a, name="old name")
    services.api_key_revoke(api_key=key, actor=None)
    logged_in(client, owner_a)

    response = client.post(reverse("admin:tenants_apikey_change", args=[key.pk]), {"name": "new name"})

    assert response.status_code == 403
    assert ApiKey.objects.get(pk=key.pk).name == "old name"


def test_the_operators_created_by_filter_lists_only_key_creators(brand_a, operator, client):
    key = ApiKeyFactory(brand=brand_a)
    bystander = UserFactory()
    logged_in(client, operator)

    specs = client.get(reverse("admin:tenants_apikey_changelist")).context["cl"].filter_specs
    created_by = next(spec for spec in specs if getattr(spec, "field_path", None) == "created_by")

    offered = {value for value, _label in created_by.lookup_choices}
    assert offered == {key.created_by.pk}
    assert bystander.pk not in offered


def test_keys_cannot_be_deleted_by_anyone(brand_a, owner_a, operator, client):
    key = ApiKeyFactory(brand=brand_a)
    for user in (owner_a, operator):
        logged_in(client, user)
        assert client.post(reverse("admin:tenants_apikey_delete", args=[key.pk]), {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=key.pk).exists()


# --- staff ------------------------------------------------------------------------------------


def test_an_owner_invites_a_new_person_who_sets_a_password_and_signs_in(
    brand_a, brand_b, owner_a, client, django_capture_on_commit_callbacks
):
    logged_in(client, owner_a)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("admin:tenants_membership_add"),
            {"email": "New.Analyst@Example.com", "role": "analyst", "brand": str(brand_b.pk)},
        )

    assert response.status_code == 302, response.content
    membership = Membership.objects.get(user__email="new.analyst@example.com")
    assert membership.brand == brand_a and membership.role == "analyst"  # never brand_b from the form
    link = re.search(r"https?://\S+/accounts/password/reset/key/\S+/", mail.outbox[0].body).group(0)

    client.logout()
    set_password_form = client.get(urlparse(link).path, follow=True)
    new_password = "A much longer passphrase 42"
    client.post(set_password_form.request["PATH_INFO"], {"password1": new_password, "password2": new_password})

    # The console's sign-in is allauth's; the link verified the email, which it asks for.
    sign_in_page = client.get(reverse("admin:tenants_apikey_changelist"), follow=True)
    assert sign_in_page.request["PATH_INFO"] == reverse("account_login")
    signed_in = client.post(
        sign_in_page.request["PATH_INFO"] + "?" + sign_in_page.request["QUERY_STRING"],
        {"login": "new.analyst@example.com", "password": new_password},
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == reverse("admin:tenants_apikey_changelist")
    assert client.get(reverse("admin:tenants_apikey_changelist")).status_code == 200


def test_invited_staff_whose_link_expired_can_ask_for_a_new_one(
    brand_a, owner_a, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        services.membership_add(brand=brand_a, email="late@example.com", role="manager", actor=None)
    mail.outbox.clear()

    # The console's old address leads to the one reset flow, allauth's.
    reset_page = client.get(reverse("admin_password_reset"), follow=True)
    assert reset_page.request["PATH_INFO"] == reverse("account_reset_password")
    client.post(reset_page.request["PATH_INFO"], {"email": "late@example.com"})

    assert len(mail.outbox) == 1 and "/accounts/password/reset/key/" in mail.outbox[0].body


def test_a_too_long_email_in_the_invite_form_is_a_form_error(brand_a, owner_a, client):
    client.force_login(owner_a)

    response = client.post(
        reverse("admin:tenants_membership_add"), {"email": "a" * 250 + "@example.com", "role": "analyst"}
    )

    assert response.status_code == 200 and "at most 254" in response.content.decode()
    assert Membership.objects.count() == 1


def test_inviting_someone_already_in_the_brand_is_a_form_error(brand_a, owner_a, client):
    logged_in(client, owner_a)

    response = client.post(reverse("admin:tenants_membership_add"), {"email": owner_a.email, "role": "manager"})

    assert response.status_code == 200
    assert "already a member" in response.content.decode()
    assert Membership.objects.count() == 1


def test_an_existing_account_is_added_without_a_second_account(brand_a, brand_b, owner_a, owner_b, client):
    logged_in(client, owner_a)

    client.post(reverse("admin:tenants_membership_add"), {"email": owner_b.email, "role": "manager"})

    assert Membership.objects.filter(user=owner_b).count() == 2
    assert User.objects.filter(email=owner_b.email).count() == 1


def test_managers_cannot_manage_staff(brand_a, client):
    manager = MembershipFactory(brand=brand_a, role="manager").user
    logged_in(client, manager)

    assert client.get(reverse("admin:tenants_membership_changelist")).status_code == 200
    assert (
        client.post(reverse("admin:tenants_membership_add"), {"email": "x@example.com", "role": "owner"}).status_code
        == 403
    )
    assert not User.objects.filter(email="x@example.com").exists()


def test_the_last_owner_can_be_neither_demoted_nor_removed(brand_a, owner_a, client):
    membership = Membership.objects.get(user=owner_a)
    logged_in(client, owner_a)

    response = client.post(reverse("admin:tenants_membership_change", args=[membership.pk]), {"role": "analyst"})
    assert "at least one owner" in response.content.decode()
    assert (
        client.post(reverse("admin:tenants_membership_delete", args=[membership.pk]), {"post": "yes"}).status_code
        == 403
    )

    membership.refresh_from_db()
    assert membership.role == "owner"


def test_with_a_second_owner_the_first_may_step_down(brand_a, owner_a, client):
    MembershipFactory(brand=brand_a, role="owner")
    membership = Membership.objects.get(user=owner_a)
    logged_in(client, owner_a)

    client.post(reverse("admin:tenants_membership_change", args=[membership.pk]), {"role": "analyst"})

    membership.refresh_from_db()
    assert membership.role == "analyst"


def test_removing_a_persons_last_membership_takes_their_console_access(brand_a, owner_a, client):
    analyst = MembershipFactory(brand=brand_a, role="analyst")
    logged_in(client, owner_a)

    client.post(reverse("admin:tenants_membership_delete", args=[analyst.pk]), {"post": "yes"})

    assert not Membership.objects.filter(pk=analyst.pk).exists()
    analyst.user.refresh_from_db()
    assert not analyst.user.is_staff


# --- brands and the switcher ------------------------------------------------------------------


def test_owners_edit_branding_but_not_what_the_operator_sets(brand_a, owner_a, client):
    logged_in(client, owner_a)
    change = reverse("admin:tenants_brand_change", args=[brand_a.pk])

    client.post(
        change,
        {
            "name": "Alpha Fitness Pro",
            "primary_colour": "#112233",
            "support_email": "help@alpha.example",
            "webhook_url": "https://alpha.example/hooks",
            "slug": "stolen",
            "status": "active",
            "monthly_cap": "99999.00",
        },
    )

    brand_a.refresh_from_db()
    assert (brand_a.name, brand_a.primary_colour, brand_a.webhook_url) == (
        "Alpha Fitness Pro",
        "#112233",
        "https://alpha.example/hooks",
    )
    assert (brand_a.slug, str(brand_a.monthly_cap)) == ("alpha-fitness", "15000.00")


def test_a_bad_colour_is_refused_with_a_message(brand_a, owner_a, client):
    logged_in(client, owner_a)

    response = client.post(
        reverse("admin:tenants_brand_change", args=[brand_a.pk]), {"name": "A", "primary_colour": "red"}
    )

    assert "six hex digits" in response.content.decode()
    brand_a.refresh_from_db()
    assert brand_a.primary_colour == "#1a73e8"


def test_only_owners_see_the_webhook_signing_secret(brand_a, owner_a, client):
    manager = MembershipFactory(brand=brand_a, role="manager").user
    page = reverse("admin:tenants_brand_change", args=[brand_a.pk])

    assert brand_a.webhook_secret in logged_in(client, owner_a).get(page).content.decode()
    assert brand_a.webhook_secret not in logged_in(client, manager).get(page).content.decode()


def test_a_member_of_two_brands_switches_between_them(brand_a, brand_b, client):
    person = UserFactory(is_staff=True)
    MembershipFactory(brand=brand_a, user=person, role="analyst")
    MembershipFactory(brand=brand_b, user=person, role="manager")
    key_a, key_b = ApiKeyFactory(brand=brand_a), ApiKeyFactory(brand=brand_b)
    logged_in(client, person)
    keys = reverse("admin:tenants_apikey_changelist")

    first = {k.pk for k in client.get(keys).context["cl"].result_list}
    client.post(reverse("admin:switch_brand"), {"brand": str(brand_b.pk)})
    second = client.get(keys)

    assert first == {key_a.pk}  # the first brand by name
    assert {k.pk for k in second.context["cl"].result_list} == {key_b.pk}
    assert second.context["has_add_permission"]  # manager in brand B


def test_nobody_switches_into_a_brand_they_do_not_belong_to(brand_a, brand_b, owner_a, client):
    ApiKeyFactory(brand=brand_b)
    logged_in(client, owner_a)

    client.post(reverse("admin:switch_brand"), {"brand": str(brand_b.pk)})

    assert client.session.get(SESSION_BRAND_KEY) != str(brand_b.pk)
    assert not client.get(reverse("admin:tenants_apikey_changelist")).context["cl"].result_list


def test_a_forged_session_brand_falls_back_to_a_real_membership(brand_a, brand_b, owner_a, client):
    key_b = ApiKeyFactory(brand=brand_b)
    logged_in(client, owner_a)
    session = client.session
    session[SESSION_BRAND_KEY] = str(brand_b.pk)
    session.save()

    shown = client.get(reverse("admin:tenants_apikey_changelist")).context["cl"].result_list

    assert key_b.pk not in {k.pk for k in shown}


def test_a_suspended_brands_staff_only_read(brand_a, owner_a, client, django_capture_on_commit_callbacks):
    key = ApiKeyFactory(brand=brand_a)
    services.brand_set_status(brand=brand_a, status=Brand.Status.SUSPENDED, actor=None)
    logged_in(client, owner_a)

    assert client.get(reverse("admin:tenants_apikey_changelist")).status_code == 200
    assert client.get(reverse("admin:tenants_apikey_add")).status_code == 403
    assert client.post(reverse("admin:tenants_apikey_revoke", args=[key.pk]), {"confirm": "yes"}).status_code == 403
    assert not ApiKey.objects.get(pk=key.pk).is_revoked


def test_the_operator_suspends_a_brand_and_its_keys_stop_at_once(
    brand_a, operator, client, django_capture_on_commit_callbacks
):
    key = ApiKeyFactory(brand=brand_a)
    assert api_status(key.secret) == 200
    logged_in(client, operator)

    with django_capture_on_commit_callbacks(execute=True):
        client.post(
            reverse("admin:tenants_brand_changelist"), {"action": "suspend", ACTION_CHECKBOX_NAME: [str(brand_a.pk)]}
        )

    assert api_status(key.secret) == 403


def test_brand_owners_cannot_run_operator_actions(brand_a, owner_a, client):
    logged_in(client, owner_a)

    client.post(
        reverse("admin:tenants_brand_changelist"), {"action": "suspend", ACTION_CHECKBOX_NAME: [str(brand_a.pk)]}
    )

    brand_a.refresh_from_db()
    assert brand_a.is_active

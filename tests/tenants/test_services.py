"""Services of the tenants domain: rules that hold whatever surface calls them."""

import threading

import pytest
from django.db import connection

from tenants import services
from tenants.models import Membership, Role
from tenants.scoping import brand_scope
from tests.factories import BrandFactory, MembershipFactory


@pytest.mark.django_db
def test_a_brand_starts_with_the_default_cap_and_its_own_webhook_secret():
    first = services.brand_create(slug="first", name="First")
    second = services.brand_create(slug="second", name="Second")

    assert str(first.monthly_cap) == "15000.00"
    assert first.webhook_secret.startswith("whsec_") and first.webhook_secret != second.webhook_secret


@pytest.mark.django_db
def test_a_failed_owner_invitation_leaves_no_brand_behind():
    with pytest.raises(services.TenantError):
        services.brand_create(slug="fitlife", name="FitLife", owner_email="nobody")

    assert not services.Brand.objects.exists()


@pytest.mark.django_db
def test_one_person_may_belong_to_several_brands_once_each():
    person = MembershipFactory(brand=BrandFactory(slug="one"), role=Role.ANALYST).user
    services.membership_add(brand=BrandFactory(slug="two"), email=person.email, role=Role.MANAGER, actor=None)

    assert Membership.objects.filter(user=person).count() == 2
    with pytest.raises(services.TenantError, match="already a member"):
        services.membership_add(brand=BrandFactory(slug="two"), email=person.email.upper(), role=Role.OWNER, actor=None)


@pytest.mark.django_db
def test_revoking_twice_keeps_the_first_revocation_time():
    issued = services.api_key_create(brand=BrandFactory(), mode="test", actor=None)
    first = services.api_key_revoke(api_key=issued.api_key, actor=None).revoked_at

    assert services.api_key_revoke(api_key=issued.api_key, actor=None).revoked_at == first


@pytest.mark.django_db
def test_keys_are_unique_and_long():
    brand = BrandFactory()
    secrets = {services.api_key_create(brand=brand, mode="live", actor=None).secret for _ in range(50)}

    assert len(secrets) == 50
    assert all(len(secret) == len("mk_live_") + 40 for secret in secrets)


@pytest.mark.needs("postgresql")
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("attempt", range(5))
def test_two_owners_stepping_down_at_once_leave_one_owner(attempt):
    """Without locking the owner rows both checks would see another owner and both would succeed."""
    brand = BrandFactory(slug=f"race-{attempt}")
    owners = [MembershipFactory(brand=brand, role=Role.OWNER) for _ in range(2)]
    barrier = threading.Barrier(2)
    outcomes = []

    def step_down(membership):
        try:
            barrier.wait()
            with brand_scope(brand):
                services.membership_change_role(membership=membership, role=Role.ANALYST, actor=None)
            outcomes.append("stepped down")
        except services.TenantError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=step_down, args=(owner,)) for owner in owners]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes) == ["refused", "stepped down"]
    assert Membership.objects.filter(brand=brand, role=Role.OWNER).count() == 1

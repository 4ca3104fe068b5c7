"""Tasks of the tenants domain, run by a real worker on the real broker."""

import pytest

from tenants import services
from tests.factories import BrandFactory


@pytest.mark.needs("postgresql", "rabbitmq")
def test_a_staff_invitation_goes_through_the_broker_to_a_worker_that_sends_it(worker):
    brand = BrandFactory(slug="worker-brand", name="Worker Brand")

    services.membership_add(brand=brand, email="invited@example.com", role="analyst", actor=None)

    worker.wait_for(lambda: any("invited@example.com" in mail for mail in worker.mails()), what="the invitation")
    [mail] = [mail for mail in worker.mails() if "invited@example.com" in mail]
    assert "Worker Brand" in mail and "/reset/" in mail

"""Tasks of the tenants domain, run by a real worker on the real broker."""

import pytest

from tenants import services
from tests.factories import BrandFactory


@pytest.mark.needs("postgresql", "rabbitmq")
def test_a_staff_invitation_goes_through_the_broker_to_a_worker_that_sends_it(worker):
    brand = BrandFactory(slug="worker-brand", name="Worker Brand")

    services.membership_add(brand=brand, email="invited@example.com", role="analyst")

    def sent():
        return any("invited@example.com" in path.read_text() for path in worker.mail_dir.iterdir())

    worker.wait_for(sent, what="the invitation email")
    mail = next(path.read_text() for path in worker.mail_dir.iterdir())
    assert "Worker Brand" in mail and "/reset/" in mail

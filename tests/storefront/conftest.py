"""Helpers shared by the storefront's tests: verified accounts, moments earned through the service,
orders placed by a real claim, credit put in a wallet the way production does it, and threads
that hit the views at the same instant."""

import threading
import uuid
from decimal import Decimal

from allauth.account.models import EmailAddress
from django.db import connection
from django.test import Client

from rewards.earning.services import EventInput, events_ingest
from rewards.models import Moment
from rewards.orders.fulfilment import fulfil_order
from storefront import services
from storefront.models import BrandLink
from tests.factories import AddressFactory, CampaignFactory, CatalogItemFactory, UserFactory

PASSWORD = "correct horse battery staple"  # the factories' password
ADDRESS = {  # an address form's fields, as posted
    "full_name": "Kim Min-ji",
    "line1": "12 Teheran-ro",
    "city": "Seoul",
    "postal_code": "06234",
    "country": "KR",
}


def verified(user=None, **fields):
    """An account whose email is confirmed (made with `fields` when no user is given)."""
    user = user or UserFactory(**fields)
    EmailAddress.objects.get_or_create(user=user, email=user.email, defaults={"verified": True, "primary": True})
    return user


def earn_moment(brand, *items, user_id=None, mode="live", **campaign_fields) -> Moment:
    """A moment offering `items`, earned through the service on a campaign (and action) of its own,
    so that no other campaign of the test earns from the same event."""
    action = f"act_{uuid.uuid4().hex[:12]}"
    campaign = CampaignFactory(
        brand=brand,
        mode=mode,
        action=action,
        threshold=Decimal("1"),
        rewards=[item.sku for item in items],
        active=True,
        **campaign_fields,
    )
    events_ingest(
        brand=brand,
        mode=mode,
        events=[
            EventInput(event_id=f"e-{uuid.uuid4().hex}", user_id=user_id or f"u-{uuid.uuid4().hex[:8]}", action=action)
        ],
    )
    return Moment.objects.get(campaign=campaign, mode=mode)


def placed_order(brand, item, *, user=None, address=True, user_id=None):
    """A live moment earned through the service and claimed for `item` by an account (as the
    brand user the account is linked to, if it is)."""
    user = verified(user)
    if user_id is None:
        link = BrandLink.objects.filter(brand=brand, user=user).first()
        user_id = link.brand_user_id if link else f"u-{item.sku}-{uuid.uuid4().hex[:6]}"
    moment = earn_moment(brand, item, user_id=user_id)
    if address is True:
        address = AddressFactory(user=user)
    return services.claim_confirm(user=user, moment=moment, item=item, address=address or None)


def give_credit(user, brand, amount) -> None:
    """`amount` of credit in the account's wallet at `brand`, as a claimed credit reward gets it:
    the order's fulfilment task is run here (in a test's transaction on_commit never fires)."""
    item = CatalogItemFactory(kind="credit", value=Decimal(amount), cost=Decimal(amount))
    order = placed_order(brand, item, user=user, address=False)
    fulfil_order(str(order.pk))  # safe to run twice: a transactional test has run it on commit


def signed_in_client(user, **kwargs) -> Client:
    """A browser session of its own for `user`."""
    client = Client(**kwargs)
    client.raise_request_exception = False  # a crash must show as the 500 it would be in production
    client.force_login(user)
    return client


def at_once(clients, request, timeout=60):
    """`request(client)` in one thread per client, released together by a barrier; the answers in
    order. Each thread uses its own database connection and closes it when done."""
    barrier = threading.Barrier(len(clients))
    answers = [None] * len(clients)
    errors = []

    def run(index):
        try:
            barrier.wait(timeout=30)
            answers[index] = request(clients[index])
        except BaseException as exc:  # noqa: BLE001 - reported below, with the thread's index
            errors.append((index, repr(exc)))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(index,)) for index in range(len(clients))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), "a request hung (deadlock?)"
    assert not errors, errors
    return answers

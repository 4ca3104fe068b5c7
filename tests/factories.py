"""factory-boy factories; `FACTORY_FOR_MODEL` lets registry-driven tests build any tenant model."""

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from rewards.campaigns.services import campaign_activate, campaign_create
from rewards.models import (
    Campaign,
    CampaignReport,
    CatalogItem,
    Charity,
    DigitalCode,
    Donation,
    Event,
    EventKey,
    LedgerEntry,
    Moment,
    Order,
    StoreItem,
    WebhookDelivery,
)
from storefront.models import Address, BrandLink
from tenants import services
from tenants.models import ApiKey, AuditEntry, Brand, Membership, User
from tenants.scoping import across_brands


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"person{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "correct horse battery staple")

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):
        if create:
            obj.save()


class BrandFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Brand
        django_get_or_create = ["slug"]

    slug = factory.Sequence(lambda n: f"brand-{n}")
    name = factory.Sequence(lambda n: f"Brand {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    brand = factory.SubFactory(BrandFactory)
    user = factory.SubFactory(UserFactory, is_staff=True)
    role = "owner"


class ApiKeyFactory(factory.django.DjangoModelFactory):
    """Made through the service, as in production; the whole key is kept on `.secret` for tests."""

    class Meta:
        model = ApiKey

    brand = factory.SubFactory(BrandFactory)
    mode = "live"
    name = factory.Sequence(lambda n: f"backend {n}")
    created_by = factory.SubFactory(UserFactory)

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        issued = services.api_key_create(actor=kwargs.pop("created_by"), **kwargs)
        issued.api_key.secret = issued.secret
        return issued.api_key


class CharityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Charity
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Charity {n}")


class CatalogItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CatalogItem

    sku = factory.Sequence(lambda n: f"ITEM-{n:04d}")
    name = factory.Sequence(lambda n: f"Reward {n}")
    kind = "digital_code"
    value = Decimal("10.00")
    cost = Decimal("9.00")
    stock = factory.LazyAttribute(lambda item: 100 if item.kind == "physical" else None)
    charity = factory.LazyAttribute(lambda item: CharityFactory() if item.kind == "donation" else None)


class DigitalCodeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DigitalCode

    item = factory.SubFactory(CatalogItemFactory, kind="digital_code")
    code = factory.Sequence(lambda n: f"CODE-{n:06d}")


class CampaignFactory(factory.django.DjangoModelFactory):
    """Made through the service (so every rule applies); `active=True` activates it too."""

    class Meta:
        model = Campaign

    brand = factory.SubFactory(BrandFactory)
    mode = "live"
    slug = factory.Sequence(lambda n: f"campaign-{n}")
    name = factory.Sequence(lambda n: f"Campaign {n}")
    action = "workout_completed"
    threshold = Decimal("3")
    cpa = Decimal("5.00")
    rewards = factory.LazyFunction(lambda: [CatalogItemFactory().sku])

    @classmethod
    def _create(cls, model_class, *args, brand, mode, active=False, **data):
        campaign = campaign_create(brand=brand, mode=mode, data=data, actor=None)
        if active:
            campaign_activate(campaign=campaign, actor=None)
        return campaign


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event
        skip_postgeneration_save = True  # the hook writes the key; the event itself is unchanged

    brand = factory.SubFactory(BrandFactory)
    event_id = factory.Sequence(lambda n: f"evt-{n}")
    mode = "live"
    body_hash = "0" * 64
    user_id = factory.Sequence(lambda n: f"user-{n}")
    action = "workout_completed"
    quantity = Decimal("1")
    occurred_at = factory.LazyFunction(timezone.now)
    received_at = factory.LazyFunction(timezone.now)

    @factory.post_generation
    def key(event, create, extracted, **kwargs):
        """Its id claimed, as the service claims every event it writes."""
        if create:
            EventKey.objects.create(row=event, brand=event.brand, event_id=event.event_id)


class MomentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Moment

    brand = factory.SubFactory(BrandFactory)
    campaign = factory.LazyAttribute(lambda moment: CampaignFactory(brand=moment.brand))
    mode = "live"
    user_id = factory.Sequence(lambda n: f"user-{n}")
    sequence = 1
    cpa = Decimal("5.00")
    earned_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class LedgerEntryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LedgerEntry

    brand = factory.SubFactory(BrandFactory)
    campaign = factory.LazyAttribute(lambda entry: CampaignFactory(brand=entry.brand))
    moment = factory.LazyAttribute(lambda entry: MomentFactory(brand=entry.brand, campaign=entry.campaign))
    kind = "charge"
    amount = Decimal("5.00")
    period = factory.LazyFunction(lambda: timezone.now().date().replace(day=1))
    note = factory.Sequence(lambda n: f"entry {n}")


class DonationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Donation

    brand = factory.SubFactory(BrandFactory)
    charity = factory.SubFactory(CharityFactory)
    amount = Decimal("1.00")
    moment = factory.LazyAttribute(lambda donation: MomentFactory(brand=donation.brand, status="fulfilled"))


class StoreItemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StoreItem

    brand = factory.SubFactory(BrandFactory)
    item = factory.SubFactory(CatalogItemFactory, kind="physical")
    price = Decimal("20.00")


class AddressFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Address

    user = factory.SubFactory(UserFactory)
    full_name = "Kim Min-ji"
    line1 = "12 Teheran-ro"
    city = "Seoul"
    postal_code = "06234"
    country = "KR"


class OrderFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Order

    brand = factory.SubFactory(BrandFactory)
    user = factory.SubFactory(UserFactory)
    moment = factory.LazyAttribute(lambda order: MomentFactory(brand=order.brand, status="claimed"))
    item = factory.LazyAttribute(lambda order: order.moment.campaign.rewards.first())
    tracking_number = factory.Sequence(lambda n: f"TRACK{n:06d}")


class BrandLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = BrandLink

    brand = factory.SubFactory(BrandFactory)
    user = factory.SubFactory(UserFactory)
    brand_user_id = factory.Sequence(lambda n: f"brand-user-{n}")


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    brand = factory.SubFactory(BrandFactory)
    event_type = "moment.earned"
    mode = "live"
    payload = factory.LazyFunction(lambda: {"id": "evt_test", "type": "moment.earned", "data": {}})
    status = "failed"


def campaign_report_for(*, brand):
    """A campaign that has run, seen as its report (the report lists no untouched draft)."""
    with across_brands():
        return CampaignReport.objects.get(pk=CampaignFactory(brand=brand, active=True).pk)


# One factory per tenant model registered in the admin; a new model must add its factory here,
# or the isolation tests that walk the admin registry fail and say so.
class AuditEntryFactory(factory.django.DjangoModelFactory):
    """An entry as a service writes it (tenants.audit.record): a campaign paused by the system."""

    class Meta:
        model = AuditEntry

    brand = factory.SubFactory(BrandFactory)
    actor_kind = AuditEntry.ActorKind.SYSTEM
    action = AuditEntry.Action.CAMPAIGN_PAUSE
    object_type = "rewards.campaign"
    object_id = factory.Faker("uuid4")
    object_repr = factory.Sequence(lambda n: f"Campaign {n}")
    before = factory.LazyFunction(lambda: {"status": "active"})
    after = factory.LazyFunction(lambda: {"status": "paused"})


FACTORY_FOR_MODEL = {
    Brand: BrandFactory,
    Membership: MembershipFactory,
    ApiKey: ApiKeyFactory,
    Campaign: CampaignFactory,
    CampaignReport: campaign_report_for,
    Event: EventFactory,
    Moment: MomentFactory,
    LedgerEntry: LedgerEntryFactory,
    Donation: DonationFactory,
    StoreItem: StoreItemFactory,
    Order: OrderFactory,
    BrandLink: BrandLinkFactory,
    WebhookDelivery: WebhookDeliveryFactory,
    AuditEntry: AuditEntryFactory,
}

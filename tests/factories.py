"""factory-boy factories; `FACTORY_FOR_MODEL` lets registry-driven tests build any tenant model."""

import factory

from tenants import services
from tenants.models import ApiKey, Brand, Membership, User


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
        issued = services.api_key_create(**kwargs)
        issued.api_key.secret = issued.secret
        return issued.api_key


# One factory per tenant model registered in the admin; a new model must add its factory here,
# or the isolation tests that walk the admin registry fail and say so.
FACTORY_FOR_MODEL = {
    Brand: BrandFactory,
    Membership: MembershipFactory,
    ApiKey: ApiKeyFactory,
}

"""The demo brands of DESIGN.md §7 and their staff, created idempotently by `seed_demo`."""

from dataclasses import dataclass

from allauth.account.models import EmailAddress
from django.db import transaction

from tenants import services
from tenants.models import ApiKey, Brand, Membership, Role, User

# The demo logins' password, printed by seed_demo and in the README: public on purpose (seed_demo warns
# when DEBUG is off).
DEMO_PASSWORD = "moments-demo"  # nosec B105  # a published demo password, not a secret
OPERATOR_EMAIL = "operator@moments.example"
# A consultant who works for two brands: the header of the console lets them switch.
AGENCY_ANALYST_EMAIL = "analyst@agency.example"


@dataclass(frozen=True)
class DemoBrand:
    slug: str
    name: str
    colour: str

    @property
    def owner_email(self):
        return f"owner@{self.slug}.example"


DEMO_BRANDS = [
    DemoBrand("fitlife", "FitLife", "#0f8a5f"),
    DemoBrand("daily-courier", "The Daily Courier", "#1f3a93"),
    DemoBrand("questforge", "QuestForge", "#8e24aa"),
    DemoBrand("nimbus-mobile", "Nimbus Mobile", "#d35400"),
    DemoBrand("streambox", "StreamBox", "#c0392b"),
]


@dataclass
class SeedReport:
    logins: list  # (who, email)
    new_keys: list  # (brand slug, secret) for keys made by this run


def seed_brands() -> SeedReport:
    """Create what is missing, change nothing that exists: a second run is a no-op."""
    report = SeedReport(logins=[], new_keys=[])
    with transaction.atomic():
        demo_login(OPERATOR_EMAIL, operator=True)
        report.logins.append(("Operator (every brand)", OPERATOR_EMAIL))
        for demo in DEMO_BRANDS:
            brand = Brand.objects.filter(slug=demo.slug).first()
            if brand is None:
                brand = services.brand_create(slug=demo.slug, name=demo.name)
                brand.primary_colour = demo.colour
                brand.support_email = f"support@{demo.slug}.example"
                services.brand_save(brand=brand, actor=None)
            _ensure_member(brand, demo.owner_email, Role.OWNER)
            report.logins.append((f"{demo.name} owner", demo.owner_email))
            if not ApiKey.objects.filter(brand=brand).exists():
                issued = services.api_key_create(brand=brand, mode=ApiKey.Mode.TEST, name="Demo test key", actor=None)
                report.new_keys.append((brand.slug, issued.secret))
        for slug in ("fitlife", "streambox"):
            _ensure_member(Brand.objects.get(slug=slug), AGENCY_ANALYST_EMAIL, Role.ANALYST)
        report.logins.append(("Analyst of FitLife and StreamBox", AGENCY_ANALYST_EMAIL))
    return report


def demo_login(email: str, *, operator: bool = False) -> User:
    """A demo account that signs in at once: the published password and a verified email (the
    sign-in asks for one; a real account verifies its own by a link)."""
    user = User.objects.filter(email=email).first()
    if user is None:
        create = User.objects.create_superuser if operator else User.objects.create_user
        user = create(email=email, password=DEMO_PASSWORD)
    # A demo made before staff signed in through allauth has the accounts, not their verified emails.
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"verified": True, "primary": True})
    return user


def _ensure_member(brand: Brand, email: str, role: str) -> None:
    demo_login(email)
    if not Membership.objects.filter(brand=brand).filter(user__email=email).exists():
        services.membership_add(brand=brand, email=email, role=role, actor=None, notify=False)

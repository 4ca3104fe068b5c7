"""Brands (the tenants), the people who run them, and the keys their backends call the API with."""

import secrets
import unicodedata
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from uuid6 import uuid7

from tenants.scoping import scoped_manager
from tenants.webhook_endpoint import check_url

BRAND_MONTHLY_CAP_DEFAULT = Decimal("15000.00")
LOGO_MAX_BYTES = 1024 * 1024
# After a rotation of a brand's webhook signing secret, deliveries carry a signature with the
# previous one too for this long (rewards.webhooks), while the brand's receiver switches over.
WEBHOOK_ROTATION_OVERLAP = timedelta(days=1)

# \Z, not $: in Python's re (SQLite's REGEXP too) $ also matches before a final newline.
brand_slug_validator = RegexValidator(
    r"^[a-z0-9]+(-[a-z0-9]+)*\Z",
    _("Use lowercase letters, digits and single hyphens between them, e.g. fitlife or city-news."),
)
hex_colour_validator = RegexValidator(
    r"^#[0-9a-fA-F]{6}\Z", _("Enter a colour as # followed by six hex digits, e.g. #1a73e8.")
)


def validate_plain_text(value: str) -> None:
    """Names end up in email subjects and CSV cells: no newlines, tabs or other control characters."""
    if any(unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"} for char in value):
        raise ValidationError(_("Use plain text: no line breaks, tabs or control characters."), code="invalid")
    if value and not value.strip():
        raise ValidationError(_("This cannot be only spaces."), code="blank")


def new_webhook_secret() -> str:
    """The key a brand's webhooks are signed with (HMAC-SHA256); the brand verifies with it. Keep
    it `whsec_` and base64 text (hex digits are base64): Standard Webhooks libraries decode it so."""
    return "whsec_" + secrets.token_hex(24)


def validate_logo_size(image) -> None:
    if image.size > LOGO_MAX_BYTES:
        raise ValidationError(_("A logo may be at most 1 MB."))


class UserManager(BaseUserManager):
    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractUser):
    """A platform account: the operator's staff, brands' staff and end users alike.

    The email address is the login; brand staff get admin access through a Membership.
    """

    username = None
    email = models.EmailField(_("email address"), unique=True)
    # The platform's free-shipping membership (the seed's "Prime"): brands pay no shipping fee for
    # members' physical rewards. Set by the operator.
    free_shipping_member = models.BooleanField(default=False)
    # The storefront language the person last used to claim or buy: emails sent later, from a
    # worker, go out in it. Empty: the site's default.
    language = models.CharField(max_length=8, blank=True, choices=settings.LANGUAGES)

    USERNAME_FIELD = "email"
    # Never filterable through an admin URL, by anyone (tenants.admin_scoping.SecretsNotFilterable).
    secret_fields = frozenset({"password"})
    REQUIRED_FIELDS = []

    objects = UserManager()

    class Meta:
        constraints = [models.UniqueConstraint(Lower("email"), name="user_email_ci_unique")]

    def __str__(self):
        return self.email


class Brand(models.Model):
    """A tenant: a company whose app rewards its users through Moments."""

    secret_fields = frozenset({"webhook_secret", "webhook_previous_secret"})  # never filterable in the admin

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        SUSPENDED = "suspended", _("suspended")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    slug = models.CharField(
        max_length=50,
        unique=True,
        validators=[brand_slug_validator],
        error_messages={"unique": _("A brand with this slug already exists.")},
        help_text=_("Lowercase letters, digits and hyphens; used in URLs and by the API tools."),
    )
    name = models.CharField(max_length=120, validators=[validate_plain_text])
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    monthly_cap = models.DecimalField(
        _("monthly cap (USD)"),
        max_digits=12,
        decimal_places=2,
        default=BRAND_MONTHLY_CAP_DEFAULT,
        validators=[MinValueValidator(Decimal("0.00"))],
        help_text=_("The most this brand can be charged in one calendar month (UTC), all campaigns together."),
    )
    logo = models.ImageField(upload_to="brand-logos/", blank=True, validators=[validate_logo_size])
    primary_colour = models.CharField(max_length=7, default="#1a73e8", validators=[hex_colour_validator])
    support_email = models.EmailField(blank=True)
    webhook_url = models.URLField(blank=True, help_text=_("Where Moments posts signed event notifications."))
    webhook_secret = models.CharField(max_length=64, default=new_webhook_secret, editable=False)
    # During a rotation deliveries are signed with both secrets for a day (several v1= values).
    webhook_previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    webhook_secret_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    webhook_failing_since = models.DateTimeField(null=True, blank=True, editable=False)
    webhook_disabled_at = models.DateTimeField(
        null=True, blank=True, help_text=_("Set when the endpoint failed for 5 days; clear it to deliver again.")
    )
    # The test clock (DESIGN.md §5): test mode's now is the real now plus this; it only moves forward.
    # db_default too: rows written by code that predates it (older migrations' tests) get it.
    test_clock_offset = models.DurationField(default=timedelta(0), db_default=timedelta(0), editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(monthly_cap__gte=0), name="brand_monthly_cap_non_negative"),
            models.CheckConstraint(
                condition=models.Q(slug__regex=brand_slug_validator.regex.pattern),
                name="brand_slug_format",
                violation_error_message=brand_slug_validator.message,
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.webhook_url:
            try:  # SSRF: https to public addresses only
                check_url(self.webhook_url)
            except ValidationError as error:
                raise ValidationError({"webhook_url": error}) from None

    @property
    def is_active(self):
        return self.status == self.Status.ACTIVE


class BrandOwned(models.Model):
    """Base of every tenant-owned model: a non-null brand, and a manager that answers only inside a
    brand scope (tenants/scoping.py): a query outside one raises instead of reading every brand."""

    # Brands are suspended, never deleted: PROTECT keeps their history and ledger whole.
    brand = models.ForeignKey(Brand, on_delete=models.PROTECT, related_name="%(class)ss")

    objects = scoped_manager()

    class Meta:
        abstract = True


class Role(models.TextChoices):
    OWNER = "owner", _("owner")
    MANAGER = "manager", _("manager")
    ANALYST = "analyst", _("analyst")


class Membership(BrandOwned):
    """A user's place in a brand's staff; one user may belong to several brands."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ANALYST)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand__name", "user__email"]
        constraints = [models.UniqueConstraint(fields=["brand", "user"], name="membership_one_per_brand")]

    def __str__(self):
        # No email in an object's name (the list and the page show the person); the user is the
        # one model named by its email, and only the operator's pages list users.
        return f"{self.get_role_display()} of {self.brand} ({self.pk})"


class ApiKey(BrandOwned):
    """A secret a brand's backend authenticates with. Only a hash of the secret is kept."""

    secret_fields = frozenset({"secret_hash"})  # never filterable in the admin

    class Mode(models.TextChoices):
        TEST = "test", _("test")
        LIVE = "live", _("live")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(
        max_length=80,
        blank=True,
        validators=[validate_plain_text],
        help_text=_("What uses this key, e.g. 'Android app backend'."),
    )
    mode = models.CharField(max_length=4, choices=Mode.choices)
    prefix = models.CharField(max_length=24, unique=True, editable=False, help_text=_("The visible start of the key."))
    secret_hash = models.CharField(max_length=64, editable=False)
    created_by = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API key")

    def __str__(self):
        return f"{self.prefix}…"

    @property
    def is_revoked(self):
        return self.revoked_at is not None


class AuditEntry(models.Model):
    """One staff action that moved money, stock or a campaign: who, when, what, and the changed
    fields' values before and after. Written only by the services (tenants/audit.py), in the
    action's own transaction; read-only in the console.

    `brand` is null for the platform's own (its policy, the catalog's stock): those entries are the
    operator's alone. It is scoped like a brand-owned row all the same (django-scopes on `brand`):
    a query outside a brand scope raises, and inside one every query is narrowed to that brand, so
    a brand-less entry never shows in a brand's console; the operator reads across brands.
    """

    class Action(models.TextChoices):
        CAMPAIGN_CREATE = "campaign.create", _("campaign created")
        CAMPAIGN_UPDATE = "campaign.update", _("campaign changed")
        CAMPAIGN_ACTIVATE = "campaign.activate", _("campaign activated")
        CAMPAIGN_PAUSE = "campaign.pause", _("campaign paused")
        CAMPAIGN_END = "campaign.end", _("campaign ended")
        MOMENT_CANCEL = "moment.cancel", _("moment cancelled")
        ORDER_CANCEL = "order.cancel", _("order cancelled")
        ORDER_SHIP = "order.ship", _("order shipped")
        API_KEY_CREATE = "api_key.create", _("API key created")
        API_KEY_REVOKE = "api_key.revoke", _("API key revoked")
        BRAND_SUSPEND = "brand.suspend", _("brand suspended")
        BRAND_REACTIVATE = "brand.reactivate", _("brand reactivated")
        BRAND_CAP_CHANGE = "brand.cap_change", _("monthly cap changed")
        POLICY_CHANGE = "policy.change", _("platform policy changed")
        STOCK_ADJUST = "stock.adjust", _("stock adjusted")
        CODES_IMPORT = "codes.import", _("codes imported")
        CATALOG_ITEM_CREATE = "catalog_item.create", _("catalog item created")
        CATALOG_ITEM_UPDATE = "catalog_item.update", _("catalog item changed")
        STORE_ITEM_CREATE = "store_item.create", _("store item created")
        STORE_ITEM_UPDATE = "store_item.update", _("store item changed")
        TEST_CLOCK_ADVANCE = "test_clock.advance", _("test clock moved")
        MEMBERSHIP_ADD = "membership.add", _("staff member added")
        MEMBERSHIP_ROLE_CHANGE = "membership.role_change", _("staff member's role changed")
        MEMBERSHIP_REMOVE = "membership.remove", _("staff member removed")
        WEBHOOK_SECRET_ROTATE = "webhook_secret.rotate", _("webhook signing secret rotated")

    class ActorKind(models.TextChoices):
        STAFF = "staff", _("brand staff")
        OPERATOR = "operator", _("operator")
        API_KEY = "api_key", _("API key")
        SYSTEM = "system", _("system")

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    brand = models.ForeignKey(Brand, null=True, blank=True, on_delete=models.PROTECT, related_name="audit_entries")
    # The account that acted, and its email as it was then (the account may be deleted later).
    actor = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    actor_kind = models.CharField(_("by"), max_length=16, choices=ActorKind.choices)
    actor_label = models.CharField(max_length=254, blank=True)
    api_key = models.CharField(_("API key"), max_length=24, blank=True, help_text=_("The visible start of the key."))
    action = models.CharField(_("action"), max_length=32, choices=Action.choices)
    object_type = models.CharField(_("object type"), max_length=64)
    object_id = models.CharField(_("object id"), max_length=64)
    object_repr = models.CharField(_("object"), max_length=200)
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    # Keys of before/after shown to the operator only (a tracking number leads to where a customer lives).
    brand_hidden = models.JSONField(default=list)
    at = models.DateTimeField(_("at"), default=timezone.now, editable=False)

    objects = scoped_manager()

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["brand", "-at"], name="audit_brand_at"),
            models.Index(fields=["object_id"], name="audit_object_id"),
        ]
        verbose_name = _("audit entry")
        verbose_name_plural = _("audit trail")

    def __str__(self):
        return f"{self.action} {self.object_type} {self.object_id}"

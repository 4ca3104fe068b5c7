"""The end user's side: links between accounts and brands' user ids, and address books. Orders,
wallets and reward stores move money or stock: they live in rewards."""

import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from tenants.models import BrandOwned, validate_plain_text


class BrandLink(BrandOwned):
    """This platform account is that brand's user: set by the first claim, one to one per brand."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="brand_links")
    brand_user_id = models.CharField(max_length=128)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["brand__name"]
        constraints = [
            models.UniqueConstraint(fields=["brand", "brand_user_id"], name="brand_user_linked_once"),
            models.UniqueConstraint(fields=["brand", "user"], name="account_linked_once_per_brand"),
        ]

    def __str__(self):
        return f"{self.brand} user {self.brand_user_id}"


class Address(models.Model):
    """A shipping address in an account's address book."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addresses")
    full_name = models.CharField(_("full name"), max_length=120, validators=[validate_plain_text])
    line1 = models.CharField(_("address"), max_length=200, validators=[validate_plain_text])
    line2 = models.CharField(_("address, line 2"), max_length=200, blank=True, validators=[validate_plain_text])
    city = models.CharField(_("city"), max_length=100, validators=[validate_plain_text])
    region = models.CharField(
        _("state, province or region"), max_length=100, blank=True, validators=[validate_plain_text]
    )
    postal_code = models.CharField(_("postal code"), max_length=20, blank=True, validators=[validate_plain_text])
    country = CountryField(_("country"))
    phone = models.CharField(_("phone"), max_length=32, blank=True, validators=[validate_plain_text])
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = _("addresses")

    def __str__(self):
        # No name, street or phone in an object's name; the person's own pages show `one_line`.
        return f"Address {self.pk} ({self.country.code})"

    @property
    def one_line(self) -> str:
        """The address as its owner sees it in their address book and at checkout."""
        return ", ".join(part for part in [self.full_name, self.line1, self.city, self.country.name] if part)

    @property
    def whole(self) -> str:
        """Every line of the address, as a parcel's label carries it (the review and the order page)."""
        area = " ".join(part for part in [self.region, self.postal_code] if part)
        parts = [self.full_name, self.line1, self.line2, self.city, area, self.country.name]
        return ", ".join(part for part in parts if part)

    def snapshot(self) -> dict:
        """The address as it was when an order was placed: later edits do not move parcels."""
        return {
            "full_name": self.full_name,
            "line1": self.line1,
            "line2": self.line2,
            "city": self.city,
            "region": self.region,
            "postal_code": self.postal_code,
            "country": self.country.code,
            "phone": self.phone,
        }

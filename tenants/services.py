"""Every state change of brands, their staff and their API keys goes through these functions."""

import hashlib
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from tenants import audit
from tenants.models import WEBHOOK_ROTATION_OVERLAP, ApiKey, Brand, Membership, Role, User, new_webhook_secret
from tenants.scoping import brand_scope
from tenants.tasks import send_staff_invitation

API_KEY_ALPHABET = string.ascii_letters + string.digits
# 40 characters of 62 symbols: about 238 bits, far beyond guessing; the first 8 are the public
# part that identifies the key in lists and logs.
API_KEY_RANDOM_LENGTH = 40
API_KEY_VISIBLE_LENGTH = 8
EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length


class TenantError(Exception):
    """A request the tenants domain refuses; the message is safe to show to the person asking."""


# --- Brands -----------------------------------------------------------------------------------


def brand_create(*, slug: str, name: str, owner_email: str | None = None) -> Brand:
    """Create a brand and, when an owner email is given, make that user (new or existing) its owner.

    Every input is checked before anything is written.
    """
    brand = Brand(slug=slug, name=name.strip())
    try:
        brand.full_clean()
    except ValidationError as exc:
        raise TenantError(_validation_message(exc)) from exc
    if owner_email is not None:
        _checked_email(owner_email)
    with transaction.atomic():
        try:
            brand.save(force_insert=True)
        except IntegrityError as exc:
            raise TenantError(f"A brand with the slug '{slug}' already exists.") from exc
        if owner_email is not None:
            with brand_scope(brand):  # the new brand's own rows, from wherever it is made
                membership_add(brand=brand, email=owner_email, role=Role.OWNER, actor=None)
    return brand


def brand_save(*, brand: Brand, actor: User | None) -> Brand:
    """Save a brand edited in the admin; API requests see its new state (status above all) at once.
    A change of status or monthly cap goes in the audit trail."""
    with transaction.atomic():
        was = Brand.objects.select_for_update().filter(pk=brand.pk).values("status", "monthly_cap").first()
        brand.save()
        if was is not None:
            if was["status"] != brand.status:
                action = audit.Action.BRAND_REACTIVATE if brand.is_active else audit.Action.BRAND_SUSPEND
                _audit_brand(actor, brand, action, was, "status")
            if was["monthly_cap"] != brand.monthly_cap:
                _audit_brand(actor, brand, audit.Action.BRAND_CAP_CHANGE, was, "monthly_cap")
    transaction.on_commit(lambda: api_key_cache_refresh(ApiKey.objects.filter(brand=brand)))
    return brand


def _audit_brand(actor, brand: Brand, action: str, was: dict, field: str) -> None:
    before, after = {field: was[field]}, {field: getattr(brand, field)}
    audit.record(actor=actor, brand=brand, action=action, obj=brand, before=before, after=after)


def brand_set_status(*, brand: Brand, status: str, actor: User | None) -> Brand:
    """Suspend or reactivate a brand; its API keys see the change on their next request."""
    brand.status = status
    return brand_save(brand=brand, actor=actor)


def brand_rotate_webhook_secret(*, brand: Brand, actor: User | None) -> Brand:
    """A new signing secret; for a day deliveries carry a signature with the old one too. In the
    audit trail as the rotation's time and how long the old secret still signs, never a secret."""
    with transaction.atomic():
        was = Brand.objects.select_for_update().values("webhook_secret", "webhook_secret_rotated_at").get(pk=brand.pk)
        rotated_at = timezone.now()
        brand.webhook_previous_secret = was["webhook_secret"]
        brand.webhook_secret = new_webhook_secret()
        brand.webhook_secret_rotated_at = rotated_at
        brand_save(brand=brand, actor=actor)
        audit.record(
            actor=actor,
            brand=brand,
            action=audit.Action.WEBHOOK_SECRET_ROTATE,
            obj=brand,
            before={"webhook_secret_rotated_at": was["webhook_secret_rotated_at"]},
            after={
                "webhook_secret_rotated_at": rotated_at,
                "previous_secret_signs_until": rotated_at + WEBHOOK_ROTATION_OVERLAP,
            },
        )
    return brand


# The furthest a test clock may run ahead of the real one: far enough for any claim window,
# campaign or year's end a developer wants to see, near enough that a date cannot overflow.
TEST_CLOCK_MAX_AHEAD = timedelta(days=3 * 366)


def brand_test_clock_advance(*, brand: Brand, to: datetime, actor: User | ApiKey | None) -> Brand:
    """Move the brand's test clock forward to `to` (aware): test mode's now is then `to`, running on
    at the real clock's pace. Never backward (what time did to test rows is not undone), never more
    than TEST_CLOCK_MAX_AHEAD ahead; a concurrent move makes this one fail rather than be lost. In
    the audit trail by `actor` (a staff user in the console, a test key through the API)."""
    now = timezone.now()
    current = Brand.objects.filter(pk=brand.pk).values_list("test_clock_offset", flat=True).get()
    if to <= now + current:
        raise ValidationError({"to": ValidationError("The test clock only moves forward.", code="invalid")})
    if to - now > TEST_CLOCK_MAX_AHEAD:
        raise ValidationError(
            {"to": ValidationError("The test clock runs at most three years ahead.", code="max_value")}
        )
    offset = to - now
    with transaction.atomic():
        # Read from the row by whoever needs it (rewards.clock), never from a cached brand.
        if not Brand.objects.filter(pk=brand.pk, test_clock_offset=current).update(test_clock_offset=offset):
            raise ValidationError({"to": ValidationError("The test clock moved meanwhile; read it again.")})
        audit.record(
            actor=actor,
            brand=brand,
            action=audit.Action.TEST_CLOCK_ADVANCE,
            obj=brand,
            before={"test_now": now + current, "advanced_by_seconds": int(current.total_seconds())},
            after={"test_now": to, "advanced_by_seconds": int(offset.total_seconds())},
        )
    brand.test_clock_offset = offset
    return brand


# --- Staff ------------------------------------------------------------------------------------


def membership_add_check(*, brand: Brand, email: str, role: str) -> str:
    """Raise TenantError if the email cannot be given this role in the brand; return it normalised."""
    email = _checked_email(email)
    if role not in Role.values:
        raise TenantError(f"'{role}' is not a role; choose one of {', '.join(Role.values)}.")
    if Membership.objects.filter(brand=brand).filter(user__email__iexact=email).exists():
        raise TenantError(f"{email} is already a member of {brand.name}.")
    return email


def _checked_email(email: str) -> str:
    email = email.strip().lower()
    try:
        if len(email) > EMAIL_MAX_LENGTH:
            raise ValidationError("too long")
        validate_email(email)
    except ValidationError as exc:
        raise TenantError(f"'{email[:80]}' is not a valid email address.") from exc
    return email


def membership_add(*, brand: Brand, email: str, role: str, actor: User | None, notify: bool = True) -> Membership:
    """Give the user with this email a role in the brand, creating the account when it is new.

    A new account has no password; the invitation email carries a link to set one. In the audit
    trail by `actor` (None: a command-line script, the demo).
    """
    email = membership_add_check(brand=brand, email=email, role=role)
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = User.objects.create_user(email=email, password=None)
        try:
            with transaction.atomic():
                membership = Membership.objects.create(brand=brand, user=user, role=role)
        except IntegrityError as exc:
            raise TenantError(f"{email} is already a member of {brand.name}.") from exc
        if not user.is_staff:
            user.is_staff = True
            user.save(update_fields=["is_staff"])
        _audit_membership(actor, audit.Action.MEMBERSHIP_ADD, membership, before=None, after=role)
        if notify:
            send_staff_invitation.delay(str(membership.pk))  # published when the transaction commits
    return membership


def membership_change_role_check(*, membership: Membership, role: str) -> None:
    """Raise TenantError if this change would leave the brand without an owner."""
    if role not in Role.values:
        raise TenantError(f"'{role}' is not a role; choose one of {', '.join(Role.values)}.")
    if membership.role == Role.OWNER and role != Role.OWNER and membership_is_last_owner(membership):
        raise TenantError("A brand must keep at least one owner: make someone else owner first.")


def membership_change_role(*, membership: Membership, role: str, actor: User | None) -> Membership:
    with transaction.atomic():
        _lock_owners(membership.brand_id)
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        membership_change_role_check(membership=locked, role=role)
        was = locked.role
        locked.role = role
        locked.save(update_fields=["role"])
        if was != role:
            _audit_membership(actor, audit.Action.MEMBERSHIP_ROLE_CHANGE, locked, before=was, after=role)
    return locked


def membership_remove(*, membership: Membership, actor: User | None) -> None:
    """Remove a member; the last owner of a brand cannot be removed."""
    with transaction.atomic():
        _lock_owners(membership.brand_id)
        locked = Membership.objects.select_for_update().get(pk=membership.pk)
        if membership_is_last_owner(locked):
            raise TenantError("A brand must keep at least one owner: make someone else owner first.")
        user = locked.user
        _audit_membership(actor, audit.Action.MEMBERSHIP_REMOVE, locked, before=locked.role, after=None)
        locked.delete()
        if not user.is_superuser and not Membership.objects.filter(user=user).exists():
            user.is_staff = False
            user.save(update_fields=["is_staff"])


def _audit_membership(actor, action: str, membership: Membership, *, before: str | None, after: str | None) -> None:
    """A staff change in the brand's trail: the role before and after, and whose (the account's id
    and email; staff data, which the console shows the brand while the person is on its staff)."""
    person = {"user": membership.user_id, "email": membership.user.email}
    audit.record(
        actor=actor,
        brand=membership.brand,
        action=action,
        obj=membership,
        before={**person, "role": before} if before is not None else {},
        after={**person, "role": after} if after is not None else {},
        brand_hidden=frozenset({"email"}),
        identifying=frozenset(person),
    )


def membership_is_last_owner(membership: Membership) -> bool:
    if membership.role != Role.OWNER:
        return False
    return (
        not Membership.objects.filter(brand_id=membership.brand_id, role=Role.OWNER).exclude(pk=membership.pk).exists()
    )


def _lock_owners(brand_id) -> None:
    # Two owners demoting or removing each other at once must not both succeed: the owner rows
    # are locked, always in pk order, before either change is checked.
    list(Membership.objects.select_for_update().filter(brand_id=brand_id, role=Role.OWNER).order_by("pk"))


# --- API keys ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # the whole key, shown once and never stored


def api_key_create(*, brand: Brand, mode: str, name: str = "", actor: User | None) -> IssuedApiKey:
    """A new key of the brand, made by `actor` (None: a command-line script); in the audit trail
    by its visible prefix, never its secret or hash."""
    if mode not in ApiKey.Mode.values:
        raise TenantError(f"'{mode}' is not a key mode; choose test or live.")
    name = name.strip()
    try:
        ApiKey(brand=brand, mode=mode, name=name).clean_fields(exclude=["brand", "prefix", "secret_hash"])
    except ValidationError as exc:
        raise TenantError(_validation_message(exc)) from exc
    random_part = "".join(secrets.choice(API_KEY_ALPHABET) for _ in range(API_KEY_RANDOM_LENGTH))
    secret = f"mk_{mode}_{random_part}"
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            brand=brand,
            mode=mode,
            name=name,
            prefix=api_key_prefix(secret),
            secret_hash=api_key_hash(secret),
            created_by=actor,
        )
        audit.record(
            actor=actor,
            brand=brand,
            action=audit.Action.API_KEY_CREATE,
            obj=api_key,
            before={},
            after={"prefix": api_key.prefix, "mode": mode, "name": name},
        )
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_rename(*, api_key: ApiKey, name: str) -> ApiKey:
    api_key.name = name.strip()
    api_key.save(update_fields=["name"])
    return api_key


def api_key_revoke(*, api_key: ApiKey, actor: User | None) -> ApiKey:
    """Revoke a key for good; a request with it is refused from the next one on."""
    with transaction.atomic():
        revoked_at = timezone.now()
        if ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(revoked_at=revoked_at):
            audit.record(
                actor=actor,
                brand=api_key.brand,
                action=audit.Action.API_KEY_REVOKE,
                obj=api_key,
                before={"revoked_at": None},
                after={"revoked_at": revoked_at},
            )
            transaction.on_commit(lambda: api_key_cache_refresh(ApiKey.objects.filter(pk=api_key.pk)))
    api_key.refresh_from_db(fields=["revoked_at"])
    return api_key


# When this process last recorded each key's use: the shared cache is asked at most once a minute
# per key and process, not on every request.
_use_noted: dict = {}
KEY_USE_EVERY_SECONDS = 60


def api_key_note_use(*, api_key: ApiKey, now) -> None:
    """Record that a key was used, at most once a minute per key, so requests do not each write a row."""
    moment = now.timestamp()
    if moment - _use_noted.get(api_key.pk, float("-inf")) < KEY_USE_EVERY_SECONDS:
        return
    _use_noted[api_key.pk] = moment
    if cache.add(f"apikey-used:{api_key.pk}", 1, timeout=KEY_USE_EVERY_SECONDS):
        ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=now)


def api_key_prefix(secret: str) -> str:
    mode_part_length = len("mk_live_")
    return secret[: mode_part_length + API_KEY_VISIBLE_LENGTH]


def api_key_hash(secret: str) -> str:
    # A fast hash is right for a long random secret: there is no dictionary to try against it.
    return hashlib.sha256(secret.encode()).hexdigest()


def api_key_cache_key(prefix: str) -> str:
    return f"apikey:{prefix}"


def api_key_cache_refresh(api_keys) -> None:
    """Overwrite the cached copies of these keys with their committed state.

    Requests fill the cache with `add` (never overwriting), and changes overwrite it after
    commit: a request that read the old row just before a revocation cannot put it back.
    """
    fresh = api_keys.select_related("brand")
    cache.set_many({api_key_cache_key(key.prefix): key for key in fresh}, timeout=settings.API_KEY_CACHE_SECONDS)


def _validation_message(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
    return " ".join(exc.messages)

"""API key authentication: `Authorization: Bearer mk_live_…|mk_test_…` and the error envelope."""

import logging

import pytest
from django.core.cache import cache
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tenants import services
from tenants.models import ApiKey, Brand
from tests.factories import ApiKeyFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me"


def call(secret=None, header=None, path=ME):
    client = APIClient()
    if header is not None:
        client.credentials(HTTP_AUTHORIZATION=header)
    elif secret is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client.get(path)


def assert_error(response, status, code, error_type):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    error = response.json()["error"]
    assert error["code"] == code
    assert error["type"] == error_type
    assert error["message"]


@pytest.mark.parametrize("mode", ["live", "test"])
def test_a_valid_key_identifies_its_brand_and_mode(brand_a, mode):
    key = ApiKeyFactory(brand=brand_a, mode=mode)

    response = call(key.secret)

    assert response.status_code == 200
    assert response.json() == {
        "brand": "alpha-fitness",
        "brand_name": "Alpha Fitness",
        "mode": mode,
        "key_prefix": key.prefix,
    }
    assert key.secret.startswith(f"mk_{mode}_")


def test_another_brands_key_is_that_brand_never_this_one(brand_a, brand_b):
    ApiKeyFactory(brand=brand_a)
    key_b = ApiKeyFactory(brand=brand_b)

    assert call(key_b.secret).json()["brand"] == "beta-news"


def test_the_secret_is_stored_only_as_a_hash(brand_a):
    key = ApiKeyFactory(brand=brand_a)
    stored = ApiKey.objects.get(pk=key.pk)

    assert key.secret not in str(stored.__dict__)
    assert stored.secret_hash == services.api_key_hash(key.secret)
    assert key.secret.startswith(stored.prefix) and len(stored.prefix) == len("mk_live_") + 8


def test_no_key_is_401_with_a_bearer_challenge(db):
    response = call()

    assert_error(response, 401, "missing_api_key", "authentication_error")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_revoked_key_is_refused_even_when_it_was_cached(brand_a, django_capture_on_commit_callbacks):
    key = ApiKeyFactory(brand=brand_a)
    assert call(key.secret).status_code == 200  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(api_key=key, actor=None)

    assert_error(call(key.secret), 401, "api_key_revoked", "authentication_error")


def test_a_key_with_its_mode_swapped_is_unknown(brand_a):
    live = ApiKeyFactory(brand=brand_a, mode="live")
    as_test = live.secret.replace("mk_live_", "mk_test_", 1)

    assert_error(call(as_test), 401, "invalid_api_key", "authentication_error")


def test_a_key_with_a_changed_secret_is_unknown(brand_a):
    key = ApiKeyFactory(brand=brand_a)
    last = key.secret[-1]
    tampered = key.secret[:-1] + ("A" if last != "A" else "B")  # same prefix, wrong secret

    assert_error(call(tampered), 401, "invalid_api_key", "authentication_error")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Token mk_live_" + "a" * 40,
        "Bearer mk_prod_" + "a" * 40,
        "Bearer mk_live_" + "a" * 39,
        "Bearer mk_live_" + "a" * 41,
        "Bearer mk_live_" + "a" * 39 + "-",
        "Bearer mk_live_" + "a" * 40 + " extra",
        "bearer mk_live_" + "a" * 40,  # well formed, but no such key
        "Bearer ' OR 1=1 --",
        "Bearer 🙂",
    ],
)
def test_garbage_in_the_header_is_401(db, header):
    assert_error(call(header=header), 401, "invalid_api_key", "authentication_error")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2FFF), max_size=80))
def test_no_header_value_ever_crashes_authentication(db, header):
    response = call(header=header) if header.strip() else call()

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "authentication_error"


def test_a_suspended_brand_is_403_at_once(brand_a, django_capture_on_commit_callbacks):
    key = ApiKeyFactory(brand=brand_a)
    assert call(key.secret).status_code == 200  # now cached

    with django_capture_on_commit_callbacks(execute=True):
        services.brand_set_status(brand=brand_a, status=Brand.Status.SUSPENDED, actor=None)

    assert_error(call(key.secret), 403, "brand_suspended", "permission_error")
    with django_capture_on_commit_callbacks(execute=True):
        services.brand_set_status(brand=brand_a, status=Brand.Status.ACTIVE, actor=None)
    assert call(key.secret).status_code == 200


def test_use_is_recorded_at_most_once_a_minute(brand_a, django_assert_num_queries):
    key = ApiKeyFactory(brand=brand_a)

    call(key.secret)
    first_use = ApiKey.objects.get(pk=key.pk).last_used_at
    with django_assert_num_queries(0):
        call(key.secret)  # cached key, use already recorded this minute: no SQL at all

    assert first_use is not None
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first_use


def test_unknown_api_paths_and_methods_answer_in_the_envelope(brand_a):
    key = ApiKeyFactory(brand=brand_a)

    assert_error(call(key.secret, path="/api/v1/no-such-thing"), 404, "not_found", "not_found_error")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key.secret}")
    assert_error(client.delete(ME), 405, "method_not_allowed", "invalid_request_error")


def test_the_schema_documents_bearer_keys(db):
    response = APIClient().get(reverse("api:schema"), HTTP_ACCEPT="application/json")

    assert response.status_code == 200
    schema = response.json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "/api/v1/me" in schema["paths"]


@pytest.mark.needs("redis")
def test_revocation_reaches_the_shared_redis_cache(brand_a, settings, django_capture_on_commit_callbacks):
    """With several web processes the key cache is Redis; a revocation must reach all of them."""
    import redis

    assert "RedisCache" in settings.CACHES["default"]["BACKEND"]
    key = ApiKeyFactory(brand=brand_a)
    call(key.secret)
    other_process = redis.Redis.from_url(settings.REDIS_URL)
    cache_key = cache.make_and_validate_key(services.api_key_cache_key(key.prefix))
    cached_before = other_process.get(cache_key)
    assert cached_before

    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(api_key=key, actor=None)

    assert other_process.get(cache_key) != cached_before
    assert cache.get(services.api_key_cache_key(key.prefix)).is_revoked
    assert_error(call(key.secret), 401, "api_key_revoked", "authentication_error")


def test_a_request_that_read_a_key_before_its_revocation_cannot_re_cache_it(
    brand_a, django_capture_on_commit_callbacks
):
    key = ApiKeyFactory(brand=brand_a)
    stale = ApiKey.objects.select_related("brand").get(pk=key.pk)  # read just before the revocation

    with django_capture_on_commit_callbacks(execute=True):
        services.api_key_revoke(api_key=key, actor=None)
    cache.add(services.api_key_cache_key(key.prefix), stale)  # that request now fills the cache

    assert_error(call(key.secret), 401, "api_key_revoked", "authentication_error")


def test_refused_keys_and_a_reached_rate_limit_are_logged_with_the_prefix_and_client_never_the_key(
    brand_a, settings, caplog
):
    caplog.set_level(logging.WARNING)
    settings.API_RATE_LIMITS = {**settings.API_RATE_LIMITS, "default": 2}
    unknown = "mk_live_" + "Q" * 40
    revoked = ApiKeyFactory(brand=brand_a)
    services.api_key_revoke(api_key=revoked, actor=None)
    live = ApiKeyFactory(brand=brand_a)

    call(unknown)
    call(revoked.secret)
    answers = [call(live.secret).status_code for _ in range(4)]

    assert answers == [200, 200, 429, 429]
    lines = [record.getMessage() for record in caplog.records]
    assert "API key refused, unknown: key_prefix=mk_live_QQQQQQQQ client=127.0.0.1" in lines
    assert f"API key refused, revoked: key_prefix={revoked.prefix} client=127.0.0.1" in lines
    reached = [line for line in lines if line.startswith("API rate limit reached")]
    assert reached == [f"API rate limit reached: key_prefix={live.prefix} scope=default client=127.0.0.1"]
    assert unknown not in caplog.text and revoked.secret not in caplog.text and live.secret not in caplog.text

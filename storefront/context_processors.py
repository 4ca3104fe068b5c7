"""What every storefront page may need to know beyond its view's context."""

from storefront.session_keys import PENDING_TEST_CLAIM


def test_mode_claim(request) -> dict:
    """A test claim's "Test mode" banner on the account pages (sign in, sign up, verify) that a
    signed-out visitor passes through on the way back to it; a view's own `test_mode` wins."""
    session = getattr(request, "session", None)  # none on an error page answered before the session is read
    if request.path.startswith("/accounts/") and session is not None and session.get(PENDING_TEST_CLAIM):
        return {"test_mode": True}
    return {}

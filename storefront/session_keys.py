"""What the storefront keeps in a visitor's session between pages (read by its views and its context
processor; the sign-in page's template reads `pending_claim` by name)."""

# The claim a signed-out visitor opened: sign-in and sign-up lead back to it (storefront:continue).
PENDING_CLAIM = "pending_claim"
# Set while the pending claim is a test moment's: the sign-in and sign-up pages on the way say
# "Test mode" too (storefront.context_processors).
PENDING_TEST_CLAIM = "pending_test_claim"

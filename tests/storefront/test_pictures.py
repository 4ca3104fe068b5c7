"""Catalog pictures (issue 14, point 5): the item's picture, with its name as alt text, and its value
on the claim page, the chooser, the review, the store and the order page."""

import io
import re
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from rewards.moments.claims import claim_token
from tests.factories import AddressFactory, CampaignFactory, CatalogItemFactory, StoreItemFactory
from tests.storefront.conftest import earn_moment, give_credit, placed_order, verified

pytestmark = pytest.mark.django_db


def png(name: str) -> SimpleUploadedFile:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), "#1a4fb0").save(buffer, format="PNG")
    return SimpleUploadedFile(name, buffer.getvalue(), content_type="image/png")


def pictures_in(html: str) -> list[str]:
    return re.findall(r'<img class="item-picture[^"]*" src="([^"]+)" alt="([^"]+)"', html)


def test_the_items_picture_and_value_show_wherever_the_item_is_offered_or_ordered(brand_a, client):
    speaker = CatalogItemFactory(name="Smart speaker", kind="physical", value=Decimal("49.99"), image=png("s.png"))
    card = CatalogItemFactory(name="Gift card", kind="digital_code", value=Decimal("10.00"), image=png("c.png"))
    campaign = CampaignFactory(brand=brand_a, threshold=Decimal("1"), rewards=[speaker.sku, card.sku], active=True)
    user = verified()
    order = placed_order(brand_a, speaker, user=user, user_id="pic-1")  # links the account to pic-1
    moment = earn_moment(brand_a, speaker, card, user_id="pic-1")
    claim = reverse("storefront:claim", args=[claim_token(moment.pk)])
    address = AddressFactory(user=user, country="KR")
    give_credit(user, brand_a, Decimal("60.00"))
    store_item = StoreItemFactory(brand=brand_a, item=speaker, price=Decimal("40.00"))
    assert campaign  # the moment above is earned on a campaign of its own offering the same items

    signed_out = client.get(claim).content.decode()
    client.force_login(user)
    pages = {
        "chooser": client.get(claim).content.decode(),
        "review": client.get(
            reverse("storefront:claim-item", args=[claim_token(moment.pk), speaker.sku]) + f"?address={address.pk}"
        ).content.decode(),
        "order": client.get(reverse("storefront:order", args=[order.pk])).content.decode(),
        "store": client.get(reverse("storefront:store", args=[brand_a.slug])).content.decode(),
        "store item": client.get(reverse("storefront:store-buy", args=[brand_a.slug, store_item.pk])).content.decode(),
    }

    assert {alt for _src, alt in pictures_in(signed_out)} == {"Smart speaker", "Gift card"}
    assert "worth 49.99 USD" in signed_out
    for name, html in pages.items():
        found = dict((alt, src) for src, alt in pictures_in(html))
        assert "Smart speaker" in found, name
        assert found["Smart speaker"] == speaker.image.url and speaker.image.url.startswith("/media/catalog/"), name
        assert "49.99" in html, name
    assert "Gift card" in dict((alt, src) for src, alt in pictures_in(pages["chooser"]))


def test_an_item_without_a_picture_shows_no_broken_image(brand_a, client):
    plain = CatalogItemFactory(name="Plain reward", kind="digital_code")
    moment = earn_moment(brand_a, plain, user_id="pic-2")

    html = client.get(reverse("storefront:claim", args=[claim_token(moment.pk)])).content.decode()

    assert "Plain reward" in html and "<img" not in html.split("</header>")[1]

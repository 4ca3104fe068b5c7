"""Orders for the fault tests on workers and the broker: one brand, a campaign per kind of reward a
worker fulfils by itself — store credit, a code from the pool, a donation, a code from an outside
fulfilment service over HTTP — moments earned through the real ingestion for many users, and
their claims through the storefront's claim service (each commit publishes its fulfilment task).

`OrderScene.effects()` reads what the fulfilment did, each effect counted per order, so that a
test can say every order was fulfilled exactly once.
"""

import threading
from collections import Counter
from decimal import Decimal

from allauth.account.models import EmailAddress

from rewards.earning.services import EventInput, events_ingest
from rewards.models import DigitalCode, Donation, Moment, Order, WalletEntry
from storefront import services
from tests.factories import BrandFactory, CampaignFactory, CatalogItemFactory, UserFactory
from tests.httpserver import Recorder

KINDS = ("credit", "code", "donation", "external")
VALUE = Decimal("5.00")
# A killed worker's lease on an order it was calling the outside service for runs out after this
# (120 s in production, 20 s in the suite): the fault tests kill often and wait for every order.
FAULTS_LEASE_SECONDS = "5"


class FulfilmentService(Recorder):
    """The outside fulfilment service: applies an order once per Idempotency-Key (as a real one
    does) and answers its code; records every call, so a test counts calls against effects.
    `delay` seconds per call keep orders in flight."""

    def __init__(self, delay: float = 0.0):
        self.applied: dict[str, str] = {}  # Idempotency-Key → the code it gave
        self.delay = delay
        self.pause = threading.Event()
        super().__init__(self._answer)

    def _answer(self, request):
        if self.delay:
            self.pause.wait(self.delay)  # never set: a plain wait that close() need not interrupt
        key = request["headers"]["Idempotency-Key"]
        with self.lock:
            code = self.applied.setdefault(key, f"EXT-{len(self.applied) + 1:04d}")
        return 200, {"code": code}


class OrderScene:
    """`per_kind` moments of each kind, earned and ready to claim, each by a customer of its own."""

    def __init__(self, service: FulfilmentService, per_kind: int):
        self.service = service
        self.brand = BrandFactory()
        self.items = {
            "credit": CatalogItemFactory(kind="credit", value=VALUE),
            "code": CatalogItemFactory(kind="digital_code", value=VALUE),
            "donation": CatalogItemFactory(kind="donation", value=VALUE),
            "external": CatalogItemFactory(kind="digital_code", value=VALUE, fulfilment_url=service.url),
        }
        DigitalCode.objects.bulk_create(
            DigitalCode(item=self.items["code"], code=f"POOL-{n:04d}") for n in range(per_kind + 10)
        )
        self.claims = []  # (user, moment, item), in the order they are claimed: kinds interleaved
        moments = {kind: self._earn(kind, per_kind) for kind in KINDS}
        for n in range(per_kind):
            for kind in KINDS:
                user = UserFactory()
                EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
                self.claims.append((user, moments[kind][n], self.items[kind]))
        self.orders: list[Order] = []
        self.refused: list[str] = []  # a claim that raised: what it raised

    def _earn(self, kind: str, count: int) -> list[Moment]:
        item = self.items[kind]
        # A donation alone is given at once, with no claim: offered beside credit, it is claimed.
        choices = [item.sku, CatalogItemFactory(kind="credit").sku] if kind == "donation" else [item.sku]
        campaign = CampaignFactory(
            brand=self.brand, action=f"fault_{kind}", threshold=Decimal("1"), rewards=choices, active=True
        )
        events = [
            EventInput(event_id=f"{kind}-{n}", user_id=f"{kind}-member-{n}", action=campaign.action)
            for n in range(count)
        ]
        outcomes = events_ingest(brand=self.brand, mode="live", events=events)
        ids = [outcome.body["moments"][0]["id"] for outcome in outcomes]
        by_id = Moment.objects.in_bulk(ids)
        return [by_id[Moment._meta.pk.to_python(moment_id)] for moment_id in ids]

    def claim(self, index: int) -> Order | None:
        """The customer confirms the claim (the claim page's service); its fulfilment task is
        published when it commits. What it raises is kept, not raised: the test counts it."""
        user, moment, item = self.claims[index]
        try:
            order = services.claim_confirm(user=user, moment=moment, item=item)
        except Exception as error:  # noqa: BLE001 — counted and shown by the test
            self.refused.append(f"{type(error).__name__}: {error}")
            return None
        self.orders.append(order)
        return order

    def our_orders(self):
        return Order.objects.filter(brand=self.brand)

    def fulfilled(self) -> int:
        return self.our_orders().filter(status=Order.Status.FULFILLED).count()

    def effects(self) -> dict:
        """Each effect, counted per order (or per moment for a donation): exactly once is 1 each."""
        orders = list(self.our_orders().select_related("item"))
        by_kind = {kind: [o for o in orders if o.item_id == item.pk] for kind, item in self.items.items()}
        credits = Counter(
            WalletEntry.objects.filter(order__in=by_kind["credit"], kind="reward").values_list("order_id", flat=True)
        )
        codes = Counter(DigitalCode.objects.filter(order__in=by_kind["code"]).values_list("order_id", flat=True))
        code_of = dict(DigitalCode.objects.filter(order__in=by_kind["code"]).values_list("order_id", "code"))
        donated = Counter(
            Donation.objects.filter(moment_id__in=[o.moment_id for o in by_kind["donation"]]).values_list(
                "moment_id", flat=True
            )
        )
        calls = Counter(request["headers"]["Idempotency-Key"] for request in self.service.requests)
        return {
            "orders": orders,
            "statuses": Counter(o.status for o in orders),
            "moments": Counter(
                Moment.objects.filter(pk__in=[o.moment_id for o in orders]).values_list("status", flat=True)
            ),
            "per_kind": {
                "credit": [credits[o.pk] for o in by_kind["credit"]],
                "code": [codes[o.pk] for o in by_kind["code"]],
                "donation": [donated[o.moment_id] for o in by_kind["donation"]],
                "external": [int(str(o.pk) in self.service.applied) for o in by_kind["external"]],
            },
            # what the order shows is what was allocated or answered for it
            "codes_match": all(o.digital_code == code_of.get(o.pk) for o in by_kind["code"])
            and all(o.digital_code == self.service.applied.get(str(o.pk)) for o in by_kind["external"]),
            "service_calls": sum(calls.values()),
            "service_keys": len(calls),
            "foreign_keys": set(calls) - {str(o.pk) for o in by_kind["external"]},
        }


def doubled(effects: dict) -> int:
    """Effects applied more than once, and orders with no effect though fulfilled."""
    return sum(max(0, n - 1) for counts in effects["per_kind"].values() for n in counts)


def assert_exactly_once(effects: dict, orders: int) -> None:
    """Every order fulfilled, its moment too, and each one's effect applied once: one wallet
    entry, one code from the pool, one donation, one order taken by the outside service (however
    many calls it got), the code each shows being the one it was given."""
    assert effects["statuses"] == Counter({"fulfilled": orders}), effects["statuses"]
    assert effects["moments"] == Counter({"fulfilled": orders}), effects["moments"]
    for kind, counts in effects["per_kind"].items():
        assert len(counts) == orders // len(KINDS) and set(counts) == {1}, (kind, Counter(counts))
    assert effects["codes_match"]
    assert effects["service_keys"] == len(effects["per_kind"]["external"]) and not effects["foreign_keys"]

"""The demo data of every app, in the top app: only it may import them all (storefront → rewards → tenants)."""

import logging
from contextlib import contextmanager

from django.conf import settings
from django.core.management.base import BaseCommand
from django.test.utils import override_settings
from django.urls import reverse
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from rewards.demo import SIZES, WINDOW_DAYS, seed_rewards
from storefront.demo import seed_activity, seed_storefront
from tenants.demo import DEMO_PASSWORD, seed_brands
from tenants.scoping import across_brands


class Command(BaseCommand):
    help = (
        "Create the demo data of DESIGN.md §7 with five weeks of its brands' activity (idempotent: a second "
        "run changes nothing)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--size",
            choices=list(SIZES),
            default="small",
            help="How much activity: small (a few thousand events, the default) or large (about ten times more).",
        )

    def handle(self, *args, size, verbosity, **options):
        console = Console(stderr=True)
        with across_brands(), _quiet_side_effects():  # it writes every demo brand's data
            report = seed_brands()
            seed_rewards()
            storefront = seed_storefront()
            with _progress(console, enabled=verbosity > 0) as task:
                activity = seed_activity(size=size, task=task)
        console_url = settings.SITE_URL + reverse("admin:index")
        self.stdout.write(self.style.SUCCESS("Moments demo data is ready."))
        self.stdout.write(f"Console: {console_url}   (every demo login's password: {DEMO_PASSWORD})")
        width = max(len(who) for who, _ in report.logins)
        for who, email in report.logins:
            self.stdout.write(f"  {who.ljust(width)}  {email}")
        self.stdout.write(
            f"Storefront: {settings.SITE_URL}/   end user {storefront.customer_email} (10 credit in "
            f"{settings.SITE_URL}/store/nimbus-mobile)"
        )
        self.stdout.write(f"A reward to claim (as that end user): {storefront.claim_url}")
        made = [brand for brand in activity if brand.made]
        self.stdout.write(
            f"Activity of the last {WINDOW_DAYS // 7} weeks (--size {size}):"
            if made
            else "Activity of the last weeks: already there (made by an earlier run), left as it is:"
        )
        width = max(len(brand.name) for brand in activity)
        for brand in activity:
            self.stdout.write(
                f"  {brand.name.ljust(width)}  {brand.events:>6,} events  {brand.moments:>6,} moments  "
                f"{brand.orders:>5,} orders"
            )
        if report.new_keys:
            self.stdout.write(
                "Test API keys, shown this once (try: curl -H 'Authorization: Bearer <key>' "
                f"{settings.SITE_URL}{reverse('api:me')}):"
            )
            for slug, secret in report.new_keys:
                self.stdout.write(f"  {slug.ljust(14)}  {secret}")
        if not settings.DEBUG:
            self.stderr.write(self.style.WARNING("DEBUG is off: do not leave demo logins on a public server."))


@contextmanager
def _quiet_side_effects():
    """While the demo is made: its made-up customers' order emails go nowhere (they would fill the
    console, or try real addresses), and in-process tasks do not log a line each."""
    trace = logging.getLogger("celery.app.trace")
    level = trace.level
    trace.setLevel(logging.WARNING)
    try:
        with override_settings(EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend"):
            yield
    finally:
        trace.setLevel(level)


@contextmanager
def _progress(console: Console, *, enabled: bool):
    """A progress bar on the terminal (none when output is not one); yields `task(description,
    total)`, which adds a bar and returns its `advance(by)`."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,  # gone when done: the summary follows
        disable=not (enabled and console.is_terminal),
    )

    def task(description: str, total: int):
        task_id = bar.add_task(description, total=total)
        return lambda by=1: bar.advance(task_id, by)

    with bar:
        yield task

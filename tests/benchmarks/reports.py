"""Benchmark: a campaign's report and its moments CSV over a month of a million events (issue 12).

A script, not a test (pytest collects only test_*.py). PostgreSQL only; it creates its own database,
`moments_bench_reports`, on the server DATABASE_URL names (the database in the URL is only used to
reach the server) and drops it at the end, on failure too:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres .venv/bin/python tests/benchmarks/reports.py

One brand, one active campaign. Loaded with set-based SQL (INSERT … SELECT generate_series), in the
order production writes them (time-ordered heap), then VACUUM ANALYZE as autovacuum would:
  - 1,000,000 live events on the campaign's action over the current calendar month (UTC), spread over
    the whole month, days after today included: the report's heaviest case is the month's last day;
    200,000 in the previous month; 100,000 live events on another action; 20,000 test-mode events;
  - 100,000 users with a Progress row (half reached the threshold, half on their way);
  - 50,000 moments (90 % this month, 10 % last month; earned, claimed, fulfilled, 1 % cancelled),
    each with its CPA charge line in the ledger (a refund line for the cancelled ones), and the
    CampaignSpend/BrandSpend counters summed from those lines.

Measured through Django's test Client, signed in as the brand's analyst, with DEBUG off (settings:
config.settings_test, which is config.settings with test-only secrets; the cache is the process's
own, never a shared Redis): the report page (after a warm-up; the brand's known-users figure is
cached 5 minutes, so renders with that cache empty are measured apart), its SQL queries, the moments
CSV streamed (time, and Python memory by tracemalloc as rows grow), and baselines in the same run:
a `SELECT 1` round trip, the month's events counted through the index, and the CSV's rows held in a
list. The slowest queries of the report are shown with EXPLAIN (ANALYZE, BUFFERS).
"""

import argparse
import os
import platform
import re
import signal
import statistics
import sys
import time
import tracemalloc
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse, urlunparse

from scratch_database import Refused, create_database, drop_database, server_for  # beside this script

ROOT = Path(__file__).resolve().parents[2]
BENCH_DB = "moments_bench_reports"
TARGET_SECONDS = 1.0
RENDERS = 5
SLOW_QUERY_MS = 100.0
CSV_CHECKPOINTS = (5_000, 10_000, 25_000)


def main() -> int:
    options = parse_args()
    url = urlparse(os.environ.get("DATABASE_URL", ""))
    try:
        server = server_for(url, BENCH_DB)
    except Refused as refused:
        print(f"refused: {refused}")
        return 2
    # SIGTERM ends the run like Ctrl-C does: through the `finally` that drops the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    created = False
    try:
        try:
            create_database(server, url, BENCH_DB)
        except Refused as refused:
            print(f"refused: {refused}")
            return 2
        created = True
        configure_django(url)
        return run(options)
    finally:
        if created:
            drop_database(server, url, BENCH_DB)


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000, help="live events on the action this month")
    parser.add_argument("--users", type=int, default=100_000, help="users with a Progress row")
    parser.add_argument("--moments", type=int, default=50_000, help="moments of the campaign")
    return parser.parse_args()


def configure_django(url) -> None:
    os.environ["DATABASE_URL"] = urlunparse(url._replace(path=f"/{BENCH_DB}"))
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings_test"
    os.environ["DEBUG"] = "false"  # queries are not recorded while timing
    os.environ["REDIS_URL"] = ""  # the process's own cache: a shared Redis is not ours to fill or clear
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.conf import settings

    assert not settings.DEBUG, "DEBUG must be off while timing"


# --- the run ----------------------------------------------------------------------------------


def run(options) -> int:
    from django.core.management import call_command
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        print(cursor.fetchone()[0])
    load_average = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"CPUs: {os.cpu_count()}; load average {load_average}", end="; ")
    print(f"Python {platform.python_version()}; {platform.platform()}")
    started = time.perf_counter()
    call_command("migrate", verbosity=0, interactive=False)
    print(f"migrate: {time.perf_counter() - started:.1f} s")

    scene = load(options)
    figures = {"load_s": scene["load_s"]}
    figures |= baselines(scene)
    figures |= measure_report(scene)
    figures |= measure_csv(scene)
    print_table(figures, scene)
    return 0


def load(options) -> dict:
    """The brand, its analyst and campaign through the ORM; the volume through set-based SQL."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rewards.campaigns.models import Campaign
    from rewards.earning.models import Event, Progress
    from rewards.ledger.models import BrandSpend, CampaignSpend, LedgerEntry
    from rewards.moments.models import Moment
    from rewards.periods import month_bounds, month_of
    from tenants.models import Brand, Membership, Role, User
    from tenants.scoping import across_brands

    now = timezone.now()
    period = month_of(now)
    start, end = month_bounds(period)
    previous_start, _ = month_bounds(month_of(start - timedelta(days=1)))
    threshold, cpa = 20, "5.00"
    moments_last_month = options.moments // 10
    with across_brands():  # the benchmark's own setup, before any request
        brand = Brand.objects.create(slug="bench", name="Bench", monthly_cap="500000.00")
        campaign = Campaign.objects.create(
            brand=brand,
            slug="workouts",
            name="Workouts",
            action="workout_completed",
            threshold=threshold,
            cpa=cpa,
            monthly_budget="300000.00",
            status=Campaign.Status.ACTIVE,
            starts_at=previous_start,
            max_per_user=1,
            granted_live=options.moments,
        )
        analyst = User.objects.create_user("analyst@bench.example", "bench-password", is_staff=True)
        Membership.objects.create(brand=brand, user=analyst, role=Role.ANALYST)

    tables = {
        "event": Event._meta.db_table,
        "progress": Progress._meta.db_table,
        "moment": Moment._meta.db_table,
        "ledger": LedgerEntry._meta.db_table,
        "campaign_spend": CampaignSpend._meta.db_table,
        "brand_spend": BrandSpend._meta.db_table,
    }
    params = {
        "brand": brand.pk,
        "campaign": campaign.pk,
        "slug": campaign.slug,
        "action": campaign.action,
        "users": options.users,
        "threshold": threshold,
        "cpa": cpa,
        "moments": options.moments,
        "moments_last_month": moments_last_month,
        "start": start,
        "end": end,
        "previous_start": previous_start,
    }
    month, last_month = (start, end), (previous_start, start)
    event_batches = [  # (what, rows, event_id prefix, mode, action, (from, to))
        ("live, on the action, this month", options.events, "cur", "live", campaign.action, month),
        ("live, on the action, last month", options.events // 5, "prev", "live", campaign.action, last_month),
        ("live, on another action, this month", options.events // 10, "oth", "live", "video_watched", month),
        ("test mode, on the action, this month", options.events // 50, "test", "test", campaign.action, month),
    ]
    steps = []
    load_started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        for what, rows, prefix, mode, action, (low, high) in event_batches:
            batch = {"n": rows, "prefix": prefix, "mode": mode, "event_action": action, "low": low, "high": high}
            steps.append(timed(cursor, f"{rows:,} events {what}", EVENTS_SQL.format(**tables), params | batch))
        steps.append(timed(cursor, f"{options.users:,} progress rows", PROGRESS_SQL.format(**tables), params))
        steps.append(timed(cursor, f"{options.moments:,} moments", MOMENTS_SQL.format(**tables), params))
        steps.append(timed(cursor, "ledger lines (charges, refunds)", LEDGER_SQL.format(**tables), params))
        steps.append(timed(cursor, "spend counters", COUNTERS_SQL.format(**tables), params))
    insert_s = time.perf_counter() - load_started
    vacuum_started = time.perf_counter()
    with connection.cursor() as cursor:
        for table in tables.values():
            cursor.execute(f'VACUUM ANALYZE "{table}"')
    vacuum_s = time.perf_counter() - vacuum_started
    load_s = time.perf_counter() - load_started

    print("\nloading")
    for label, rows, seconds in steps:
        print(f"  {label:<50} {rows:>10,} rows {seconds:>7.1f} s")
    print(f"  {'inserts, one transaction':<50} {'':>15} {insert_s:>7.1f} s")
    print(f"  {'VACUUM ANALYZE':<50} {'':>15} {vacuum_s:>7.1f} s")
    print(f"  {'total':<50} {'':>15} {load_s:>7.1f} s")
    with connection.cursor() as cursor:
        print("  sizes: " + ", ".join(f"{name} {table_size(cursor, table)}" for name, table in tables.items()))
    return {
        "brand": brand,
        "campaign": campaign,
        "analyst": analyst,
        "period": period,
        "start": start,
        "end": end,
        "expected_actions": options.events,
        "expected_earned": options.moments - moments_last_month,
        "moments": options.moments,
        "load_s": load_s,
    }


def timed(cursor, label, sql, params):
    started = time.perf_counter()
    cursor.execute(sql, params)
    return label, cursor.rowcount, time.perf_counter() - started


def table_size(cursor, table) -> str:
    cursor.execute("SELECT pg_size_pretty(pg_total_relation_size(%s))", [table])
    return cursor.fetchone()[0]


# Time-ordered: the n-th row of a batch is at the n-th fraction of its span, as an API would append them.
EVENTS_SQL = """
INSERT INTO {event} (id, brand_id, event_id, mode, body_hash, user_id, action, quantity, occurred_at,
                     received_at, country, properties, response)
SELECT gen_random_uuid(), %(brand)s, %(prefix)s || '-' || g, %(mode)s, md5('a' || g) || md5('b' || g),
       'user-' || ((g::bigint * 7919) %% %(users)s), %(event_action)s, 1, t - interval '3 seconds', t,
       'US', '{{}}'::jsonb,
       jsonb_build_object('event_id', %(prefix)s || '-' || g, 'moments', '[]'::jsonb, 'progress',
           jsonb_build_array(jsonb_build_object('campaign', %(slug)s, 'count', '3', 'threshold', '20',
                                                'blocked', null)))
FROM generate_series(0, %(n)s - 1) AS g,
     LATERAL (SELECT %(low)s::timestamptz + (%(high)s::timestamptz - %(low)s::timestamptz) * (g::float8 / %(n)s)
              AS t) AS at
"""

# Users below `moments` reached the threshold (one moment each: max_per_user 1); the others are on their way.
PROGRESS_SQL = """
INSERT INTO {progress} (id, brand_id, campaign_id, mode, user_id, count, granted, updated_at)
SELECT gen_random_uuid(), %(brand)s, %(campaign)s, 'live', 'user-' || u,
       CASE WHEN u < %(moments)s THEN %(threshold)s + u %% 7 ELSE 1 + u %% (%(threshold)s - 1) END,
       CASE WHEN u < %(moments)s THEN 1 ELSE 0 END, now()
FROM generate_series(0, %(users)s - 1) AS u
"""

# The first tenth last month, the rest over this month; 45 % earned, 34 % claimed, 20 % fulfilled, 1 % cancelled.
MOMENTS_SQL = """
INSERT INTO {moment} (id, brand_id, campaign_id, event_id, mode, user_id, sequence, status, claim_token_hash, cpa,
                      earned_at, expires_at, account_id, claimed_at, fulfilled_at, cancelled_at, cancel_reason)
SELECT gen_random_uuid(), %(brand)s, %(campaign)s, NULL, 'live', 'user-' || g, 1, s.status,
       md5('c' || g) || md5('t' || g), %(cpa)s::numeric, e.at, e.at + interval '30 days', NULL,
       CASE WHEN s.status IN ('claimed', 'fulfilled') THEN e.at + interval '1 hour' END,
       CASE WHEN s.status = 'fulfilled' THEN e.at + interval '2 hours' END,
       CASE WHEN s.status = 'cancelled' THEN e.at + interval '3 hours' END,
       CASE WHEN s.status = 'cancelled' THEN 'benchmark' ELSE '' END
FROM generate_series(0, %(moments)s - 1) AS g,
     LATERAL (SELECT CASE WHEN g < %(moments_last_month)s
                 THEN %(previous_start)s::timestamptz + (%(start)s::timestamptz - %(previous_start)s::timestamptz)
                      * (g::float8 / %(moments_last_month)s)
                 ELSE %(start)s::timestamptz + (%(end)s::timestamptz - %(start)s::timestamptz)
                      * ((g - %(moments_last_month)s)::float8 / (%(moments)s - %(moments_last_month)s))
              END AS at) AS e,
     LATERAL (SELECT CASE WHEN g %% 100 < 45 THEN 'earned' WHEN g %% 100 < 79 THEN 'claimed'
                          WHEN g %% 100 < 99 THEN 'fulfilled' ELSE 'cancelled' END AS status) AS s
ORDER BY e.at
"""

# A charge per moment and a refund per cancelled one, billed (and counted) in the month it was earned.
LEDGER_SQL = """
INSERT INTO {ledger} (id, brand_id, campaign_id, moment_id, order_id, kind, amount, period, counter_period,
                      created_at, note)
SELECT gen_random_uuid(), m.brand_id, m.campaign_id, m.id, NULL, k.kind,
       CASE WHEN k.kind = 'refund' THEN -m.cpa ELSE m.cpa END,
       date_trunc('month', m.earned_at AT TIME ZONE 'UTC')::date,
       date_trunc('month', m.earned_at AT TIME ZONE 'UTC')::date,
       m.earned_at + CASE WHEN k.kind = 'refund' THEN interval '3 hours' ELSE interval '0' END, ''
FROM {moment} AS m
CROSS JOIN (VALUES ('charge'), ('refund')) AS k(kind)
WHERE m.campaign_id = %(campaign)s AND (k.kind = 'charge' OR m.status = 'cancelled')
ORDER BY m.earned_at, k.kind
"""

COUNTERS_SQL = """
WITH months AS (
    SELECT counter_period AS period, sum(amount) AS spent
    FROM {ledger} WHERE brand_id = %(brand)s AND campaign_id = %(campaign)s AND counter_period IS NOT NULL
    GROUP BY counter_period
), campaigns AS (
    INSERT INTO {campaign_spend} (brand_id, campaign_id, period, spent, capped_at)
    SELECT %(brand)s, %(campaign)s, period, spent, NULL FROM months
    RETURNING 1
)
INSERT INTO {brand_spend} (brand_id, period, spent)
SELECT %(brand)s, period, spent FROM months
"""


# --- measures ---------------------------------------------------------------------------------


def baselines(scene) -> dict:
    """What the report is compared with, measured in the same run on the same connection."""
    from django.db import connection

    from rewards.earning.models import Event

    args = [scene["brand"].pk, scene["campaign"].action, scene["start"], scene["end"]]
    month_events = (
        f'SELECT count(*) FROM "{Event._meta.db_table}" WHERE brand_id = %s AND action = %s '
        "AND received_at >= %s AND received_at < %s"
    )
    with connection.cursor() as cursor:

        def fetch(sql, params=()):
            cursor.execute(sql, params)
            return cursor.fetchall()

        select_1 = repeat(lambda: fetch("SELECT 1"), times=200)
        count_index = repeat(lambda: fetch(month_events, args), times=5)
        count_live = repeat(lambda: fetch(month_events + " AND mode = 'live'", args), times=5)
        index_plan = [line for (line,) in fetch("EXPLAIN (ANALYZE, BUFFERS) " + month_events, args)]
    print("\nbaseline plan: the month's events on the action, counted through the index (no mode filter)")
    print("\n".join(f"  {line}" for line in index_plan))
    return {"select_1_ms": select_1, "count_index_ms": count_index, "count_live_ms": count_live}


def repeat(call, *, times) -> float:
    """Median milliseconds of `times` calls, after one untimed call."""
    call()
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def signed_in_client(scene):
    from django.test import Client

    client = Client()
    client.force_login(scene["analyst"])
    return client


def measure_report(scene) -> dict:
    from django.core.cache import cache
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    client = signed_in_client(scene)
    url = reverse("admin:rewards_campaignreport_change", args=[scene["campaign"].pk])

    def render() -> float:
        started = time.perf_counter()
        response = client.get(url)
        seconds = time.perf_counter() - started
        assert response.status_code == 200, response.status_code
        render.last = response.content.decode()
        return seconds * 1000

    render()  # warm-up: templates, translations, the known-users cache, the server's buffers
    check_figures(render.last, scene)
    warm = [render() for _ in range(RENDERS)]
    cold = []
    for _ in range(3):
        cache.clear()  # the brand's known users, counted again (every 5 minutes in production)
        cold.append(render())
    with CaptureQueriesContext(connection) as warm_queries:
        warm_total_ms = render()
    cache.clear()
    with CaptureQueriesContext(connection) as cold_queries:
        render()

    queries = sorted(cold_queries.captured_queries, key=lambda q: float(q["time"]), reverse=True)
    print(f"\nreport page, one render with the known-users cache empty: {len(queries)} queries, slowest first")
    for query in queries[:8]:
        print(f"  {float(query['time']) * 1000:8.1f} ms  {shorten(query['sql'])}")
    slow = [q for q in queries if float(q["time"]) * 1000 >= SLOW_QUERY_MS]
    if max(statistics.median(warm), statistics.median(cold)) >= TARGET_SECONDS * 1000:
        slow = queries[:3]  # over the target: the three slowest, whatever they take
    for query in slow or queries[:1]:
        explain(query["sql"])
    return {
        "report_warm_median_ms": statistics.median(warm),
        "report_warm_max_ms": max(warm),
        "report_cold_median_ms": statistics.median(cold),
        "report_cold_max_ms": max(cold),
        "report_queries_warm": len(warm_queries.captured_queries),
        "report_sql_warm_ms": sum(float(q["time"]) for q in warm_queries.captured_queries) * 1000,
        "report_sql_warm_total_ms": warm_total_ms,
        "report_queries_cold": len(queries),
        "report_bytes": len(render.last.encode()),
    }


def check_figures(page: str, scene) -> None:
    """The page shows the loaded month: a benchmark of the wrong data measures nothing."""
    for figure, expected in (("actions", scene["expected_actions"]), ("earned", scene["expected_earned"])):
        found = re.search(rf'data-figure="{figure}">([^<]*)<', page)
        shown = found.group(1).strip() if found else None
        if shown != str(expected):
            raise AssertionError(f"the report shows {figure}={shown!r}, the benchmark loaded {expected}")


def shorten(sql: str, width: int = 150) -> str:
    sql = " ".join(sql.split())
    return sql if len(sql) <= width else sql[: width - 1] + "…"


def explain(sql: str) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        plan = [line for (line,) in cursor.fetchall()]
    print(f"\n  EXPLAIN (ANALYZE, BUFFERS) {shorten(sql, 400)}")
    print("\n".join(f"    {line}" for line in plan))


def measure_csv(scene) -> dict:
    from django.urls import reverse

    client = signed_in_client(scene)
    url = reverse("admin:rewards_campaignreport_moments_csv", args=[scene["campaign"].pk])

    def stream(on_row=None) -> int:
        response = client.get(url)
        assert response.status_code == 200 and response.streaming, response.status_code
        rows = -1  # the header
        for _line in response.streaming_content:
            rows += 1
            if on_row:
                on_row(rows)
        response.close()
        return rows

    stream()  # warm-up
    started = time.perf_counter()
    rows = stream()
    seconds = time.perf_counter() - started
    assert rows == scene["moments"], f"the CSV has {rows} rows, the benchmark loaded {scene['moments']}"

    # Peak Python memory (tracemalloc) above what was allocated before the request, as the rows grow.
    peaks = {}

    def note_peak(row: int) -> None:
        if row in CSV_CHECKPOINTS:
            peaks[row] = tracemalloc.get_traced_memory()[1] - base

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        stream(note_peak)
        peaks[rows] = tracemalloc.get_traced_memory()[1] - base
        # Baseline: the same rows built into a list, as a non-streaming export would hold them.
        response = client.get(url)
        base_list = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        held = list(response.streaming_content)
        list_peak = tracemalloc.get_traced_memory()[1] - base_list
        assert len(held) == rows + 1
        del held
        response.close()
    finally:
        tracemalloc.stop()
    return {
        "csv_rows": rows,
        "csv_s": seconds,
        "csv_peaks": peaks,
        "csv_list_peak": list_peak,
    }


def print_table(figures, scene) -> None:
    mib = 1024 * 1024
    warm, cold = figures["report_warm_median_ms"], figures["report_cold_median_ms"]
    peaks, rows = figures["csv_peaks"], figures["csv_rows"]
    first_n = min(peaks)  # the first checkpoint the CSV reached (5,000 rows at full scale)
    first = peaks[first_n]
    lines = [
        ("data loaded (inserts + VACUUM ANALYZE)", f"{figures['load_s']:.1f} s"),
        ("baseline: SELECT 1 round trip (median of 200)", f"{figures['select_1_ms']:.3f} ms"),
        ("baseline: count(*) month's events on the action, index (median of 5)", f"{figures['count_index_ms']:.1f} ms"),
        ("  the same with mode = 'live', as the report counts (median of 5)", f"{figures['count_live_ms']:.1f} ms"),
        (f"report page, warm cache: median / max of {RENDERS}", f"{warm:.0f} / {figures['report_warm_max_ms']:.0f} ms"),
        (
            "report page, known-users cache empty: median / max of 3",
            f"{cold:.0f} / {figures['report_cold_max_ms']:.0f} ms",
        ),
        (
            "report page, warm: time in SQL of the whole request (one render, queries recorded)",
            f"{figures['report_sql_warm_ms']:.0f} of {figures['report_sql_warm_total_ms']:.0f} ms",
        ),
        ("report page: HTML size", f"{figures['report_bytes'] / 1024:.0f} KiB"),
        (
            "report page: SQL queries (warm / cache empty)",
            f"{figures['report_queries_warm']} / {figures['report_queries_cold']}",
        ),
        (
            "report page: target < 1 s (warm / cache empty)",
            f"{'met' if warm < TARGET_SECONDS * 1000 else 'MISSED'} / "
            f"{'met' if cold < TARGET_SECONDS * 1000 else 'MISSED'}",
        ),
        ("report (warm) ÷ count(*) of the month's events via the index", f"{warm / figures['count_index_ms']:.2f}×"),
        ("report (warm) ÷ SELECT 1 round trip", f"{warm / figures['select_1_ms']:,.0f}×"),
        ("report (cache empty) ÷ count(*) via the index", f"{cold / figures['count_index_ms']:.2f}×"),
        ("moments CSV: rows, seconds", f"{rows:,} rows in {figures['csv_s']:.2f} s ({rows / figures['csv_s']:,.0f}/s)"),
        *[(f"moments CSV: peak Python memory, first {n:,} rows", f"{peaks[n] / mib:.2f} MiB") for n in sorted(peaks)],
        (f"moments CSV: peak all {rows:,} rows ÷ peak first {first_n:,}", f"{peaks[rows] / first:.2f}×"),
        ("baseline: the same rows built into a list, peak", f"{figures['csv_list_peak'] / mib:.2f} MiB"),
        ("moments CSV: streamed peak ÷ list peak", f"{peaks[rows] / figures['csv_list_peak']:.3f}×"),
    ]
    width = max(len(label) for label, _ in lines)
    print(f"\nfigures: one brand, one campaign, period {scene['period']:%Y-%m}")
    for label, value in lines:
        print(f"  {label:<{width}}  {value}")


if __name__ == "__main__":
    sys.exit(main())

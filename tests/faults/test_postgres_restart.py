"""Fault (a): PostgreSQL restarted while a brand's app posts events (issue 16, point 5).

A private PostgreSQL cluster (tests/faults/servers.py) serves the platform's real web process
(gunicorn, platform/gunicorn.conf.py). Eight clients post single events over HTTP with the brand's
live key, as the brand's backend does: an answer that is not a 2xx (a 503 while the database is
gone, or no answer at all) is retried with the same event_id, a little later — event ids make a
retry safe (DESIGN.md §5). A quarter of the way through, the database is stopped cleanly
(`pg_ctl stop -m fast`: its sessions are ended mid-transaction) and started a second later; at
two thirds, it is stopped as in a crash (`-m immediate`: no checkpoint, recovered from the WAL at
the next start).

Afterwards, read from the database itself: every event answered 2xx is stored (the event and its
key); each user's progress is the number of their events (no event counted twice); each (campaign,
user) has exactly the moments its progress crossed (every 3, 5 or 7 workouts), each charged once,
each donation given once; the ledger adds up to the month's counters; and every moment was
announced in exactly one event's answer.
"""

import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from decimal import Decimal

import httpx
import psycopg
import pytest
from django.conf import settings
from django.db import connection

from tests.faults.servers import ROOT, Gunicorn, PrivatePostgres

pytestmark = [pytest.mark.faults, pytest.mark.needs("postgresql-server", "redis")]

EVENTS = 600
USERS = 40
CLIENTS = 8
REPEAT_EVERY = 10  # every 10th event is posted again once answered, as an app's retry queue may do
RETRY_AFTER = 0.1  # seconds a client waits before sending an unanswered event again
LOAD_TIME_LIMIT = 90.0  # the whole load, outages included; a client gives up on an event after it
DOWN_FOR = 1.0  # seconds the database stays down at each stop


def seed(url: str) -> dict:
    env = {"DJANGO_SETTINGS_MODULE": "config.settings_test", "DATABASE_URL": url}
    done = subprocess.run(
        [sys.executable, "-m", "tests.faults.seed"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


class EventLoad:
    """The brand's backend: CLIENTS threads, each posting the next event until it is answered 2xx."""

    def __init__(self, base_url: str, key: str, events: list[dict]):
        self.base_url, self.key = base_url, key
        self.events = queue.Queue()
        for event in events:
            self.events.put(event)
        self.sent = len(events)
        self.to_repeat = {event["event_id"] for event in events[::REPEAT_EVERY]}
        self.answers: dict[str, tuple[int, dict]] = {}  # event_id → its first 2xx answer
        self.repeats: dict[str, tuple[int, dict]] = {}  # event_id → the 2xx answer to posting it again
        self.refused: dict[str, tuple[int, str]] = {}  # a 4xx: the test fails on any
        self.unanswered: list[str] = []  # given up on at the time limit: the test fails on any
        self.failed_attempts = Counter()  # what the clients got instead of a 2xx, by kind
        self.lock = threading.Lock()
        self.deadline = time.monotonic() + LOAD_TIME_LIMIT

    @property
    def acknowledged(self) -> int:
        return len(self.answers)

    def run(self, faults: list) -> None:
        """Posts every event; runs each fault (at, action) once `at` events have been answered 2xx."""
        clients = [threading.Thread(target=self._client, daemon=True) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        try:
            for at, fault in faults:
                while self.acknowledged < at and any(c.is_alive() for c in clients):
                    time.sleep(0.01)
                fault()
        finally:
            for client in clients:
                client.join(timeout=max(0.0, self.deadline - time.monotonic()) + 15)

    def _client(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base_url, headers=headers, timeout=10.0) as http:
            while True:
                try:
                    event = self.events.get_nowait()
                except queue.Empty:
                    return
                if self._send(http, event, self.answers) and event["event_id"] in self.to_repeat:
                    self._send(http, event, self.repeats)

    def _send(self, http: httpx.Client, event: dict, answers: dict) -> bool:
        """Posts the event until it is answered 2xx (True), refused (a 4xx) or the time is up."""
        while time.monotonic() < self.deadline:
            try:
                response = http.post("/api/v1/events", json=event)
            except httpx.TransportError as error:  # refused, reset, or no answer in time
                self._failed(type(error).__name__)
                continue
            if response.status_code in (200, 201):
                with self.lock:
                    answers[event["event_id"]] = (response.status_code, response.json())
                return True
            if response.status_code >= 500 or response.status_code == 429:
                self._failed(str(response.status_code))
                continue
            with self.lock:
                self.refused[event["event_id"]] = (response.status_code, response.text[:500])
            return False
        with self.lock:
            self.unanswered.append(event["event_id"])
        return False

    def _failed(self, kind: str) -> None:
        with self.lock:
            self.failed_attempts[kind] += 1
        time.sleep(RETRY_AFTER)


def read_outcome(url: str, scene: dict) -> dict:
    """What the database holds for the brand, read with SQL of its own after the load (ids as text)."""
    with psycopg.connect(url) as conn:

        def rows(sql: str) -> list[tuple]:
            return conn.execute(sql, {"brand": scene["brand_id"]}).fetchall()

        return {
            "events": dict(
                rows(
                    "SELECT e.event_id, e.user_id FROM rewards_event e JOIN rewards_eventkey k ON k.row_id = e.id "
                    "WHERE e.brand_id = %(brand)s"
                )
            ),
            "progress": {
                (campaign, user): (count, granted)
                for campaign, user, count, granted in rows(
                    "SELECT campaign_id::text, user_id, count, granted FROM rewards_progress WHERE brand_id = %(brand)s"
                )
            },
            "moments": rows(
                "SELECT id::text, campaign_id::text, user_id, sequence FROM rewards_moment WHERE brand_id = %(brand)s"
            ),
            "charges": rows(
                "SELECT moment_id::text, campaign_id::text, amount FROM rewards_ledgerentry "
                "WHERE brand_id = %(brand)s AND kind = 'charge'"
            ),
            "other_lines": rows(
                "SELECT count(*) FROM rewards_ledgerentry WHERE brand_id = %(brand)s AND kind <> 'charge'"
            )[0][0],
            "campaign_spend": rows(
                "SELECT campaign_id::text, period, spent FROM rewards_campaignspend WHERE brand_id = %(brand)s"
            ),
            "brand_spend": rows("SELECT mode, period, spent FROM rewards_brandspend WHERE brand_id = %(brand)s"),
            "donations": rows("SELECT moment_id::text FROM rewards_donation WHERE brand_id = %(brand)s"),
        }


def test_events_answered_2xx_survive_postgres_restarts_and_no_grant_is_doubled(db, tmp_path, figures):
    """`db`: the suite's test database, migrated, whose tables the private cluster copies."""
    started = time.monotonic()
    events = [
        {"event_id": f"workout-{n:05d}", "user_id": f"member-{n % USERS:02d}", "action": "workout_completed"}
        for n in range(EVENTS)
    ]
    outages = []

    with PrivatePostgres() as postgres:
        postgres.start()
        postgres.create_database()
        if connection.vendor == "postgresql":  # the suite's test database is migrated: its tables, copied
            postgres.copy_schema(connection.settings_dict)
        scene = seed(postgres.url)
        seeded = time.monotonic()
        web_env = {
            "DATABASE_URL": postgres.url,
            "REDIS_URL": settings.REDIS_URL,
            "API_RATE_LIMIT": "1000000",  # the throttle is not under test; a 429 would only be retried
        }
        with Gunicorn(tmp_path, env=web_env) as web:
            web.start()

            def outage(mode):
                def stop_and_start():
                    down = time.monotonic()
                    postgres.restart(mode, down_for=DOWN_FOR)
                    outages.append((mode, time.monotonic() - down))

                return stop_and_start

            load = EventLoad(web.url, scene["key"], events)
            load_started = time.monotonic()
            load.run(faults=[(EVENTS // 4, outage("fast")), (EVENTS * 2 // 3, outage("immediate"))])
            load_took = time.monotonic() - load_started
        found = read_outcome(postgres.url, scene)

    campaigns = {c["id"]: (slug, c) for slug, c in scene["campaigns"].items()}
    acknowledged = set(load.answers)
    stored = acknowledged & set(found["events"])
    per_user = Counter(found["events"].values())
    moments_of = Counter((campaign, user) for _, campaign, user, _ in found["moments"])
    expected = {
        (campaign, user): count // info["threshold"]
        for campaign, (_, info) in campaigns.items()
        for user, count in per_user.items()
    }
    doubled = sum(max(0, moments_of[k] - expected.get(k, 0)) for k in set(moments_of) | set(expected))
    lost = sum(max(0, expected[k] - moments_of[k]) for k in expected)
    charged = Counter(moment for moment, *_ in found["charges"])
    announced = Counter(m["id"] for _, body in load.answers.values() for m in body["moments"])
    moment_ids = {moment_id for moment_id, *_ in found["moments"]}
    failed = ", ".join(f"{kind}: {n}" for kind, n in sorted(load.failed_attempts.items()))
    first_statuses = Counter(status for status, _ in load.answers.values())
    figures(
        f"postgres restarts ({', '.join(f'{mode} stop, down {took:.1f} s' for mode, took in outages)}) during "
        f"{EVENTS} events: sent={load.sent}, acknowledged={len(acknowledged)}, stored={len(stored)}, "
        f"granted={len(found['moments'])}, charged={len(found['charges'])}, doubled={doubled}, lost={lost}; "
        f"first answers 201={first_statuses[201]}, 200={first_statuses[200]} (committed, answer lost); "
        f"posted again={len(load.repeats)} (each 200, the first answer); "
        f"retried attempts={sum(load.failed_attempts.values())} ({failed}); "
        f"cluster and schema {seeded - started:.1f} s, load {load_took:.1f} s, "
        f"{time.monotonic() - started:.1f} s in all"
    )

    assert [mode for mode, _ in outages] == ["fast", "immediate"]
    assert load.failed_attempts, "no request met the outage: the restarts proved nothing"
    # The API says what happened: the database is unavailable (503, retry), never an internal error.
    assert "500" not in load.failed_attempts, load.failed_attempts
    assert not load.refused and not load.unanswered, (load.refused, load.unanswered)
    # Every event answered 2xx is in the database, and nothing else is.
    assert acknowledged == {e["event_id"] for e in events} == set(found["events"])
    # Counted once: each user's progress in each campaign is the number of their events.
    assert {k: count for k, (count, _) in found["progress"].items()} == {
        (campaign, user): Decimal(count) for campaign in campaigns for user, count in per_user.items()
    }
    # Granted once: the moments each (campaign, user) crossed, no more, no fewer, numbered 1..n.
    assert (doubled, lost) == (0, 0)
    assert {k: granted for k, (_, granted) in found["progress"].items()} == expected
    sequences = Counter((campaign, user, sequence) for _, campaign, user, sequence in found["moments"])
    assert max(sequences.values()) == 1
    # Charged once: one charge per moment, nothing else in the ledger, and it adds up to the counters.
    assert set(charged.values()) == {1} and set(charged) == moment_ids
    assert found["other_lines"] == 0
    cpa = Decimal(scene["cpa"])
    assert all(amount == cpa for _, _, amount in found["charges"])
    spent_by_campaign = Counter()
    for _, campaign, amount in found["charges"]:
        spent_by_campaign[campaign] += amount
    assert {campaign: spent for campaign, _, spent in found["campaign_spend"]} == dict(spent_by_campaign)
    [(mode, _, brand_spent)] = found["brand_spend"]
    assert (mode, brand_spent) == ("live", cpa * len(found["charges"]))
    # Each donation given once, with its moment.
    donation_campaign = next(c["id"] for c in scene["campaigns"].values() if c["kind"] == "donation")
    donation_moments = {m for m, campaign, *_ in found["moments"] if campaign == donation_campaign}
    donated = Counter(moment for (moment,) in found["donations"])
    assert set(donated.values()) == {1} and set(donated) == donation_moments
    # Told once: every moment is in exactly one event's answer, and an event posted again is
    # answered 200 with its first answer.
    assert set(announced.values()) == {1} and set(announced) == moment_ids
    assert set(load.repeats) == load.to_repeat
    for event_id, (status, body) in load.repeats.items():
        assert (status, body) == (200, load.answers[event_id][1]), event_id

#!/usr/bin/env python3
"""Benchmark learnloop's wiki webhook ingestion (POST /wiki/<name>/events) against a bare Flask app, on loopback.

    .venv/bin/python scripts/bench_wiki_ingest.py                 # SQLite in a temp dir, about a minute
    .venv/bin/python scripts/bench_wiki_ingest.py --json          # machine-readable results
    .venv/bin/python scripts/bench_wiki_ingest.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres   # a fresh schema, dropped after
    .venv/bin/python scripts/bench_wiki_ingest.py --wait-for-host 1200   # poll (every 30 s) until the
                                                                          # Outline host imports cleanly

Issue 4's target: learnloop ingests webhook deliveries at no less than 0.5 of the bare-Flask
baseline's throughput, both measured in the same run.

In one run it starts two servers with `learnloop serve` (the same gunicorn settings for both:
its worker class, --workers of them, the same threads, access log), both reading the same TOML
file with one Outline wiki (`[[wikis]] name="docs" kind="outline"`):

- learnloop, on a fresh database (a temp SQLite file, or a fresh schema of --database-url);
- the bare baseline of the core benchmark (scripts/bench_inbound.py's BARE_APP: the same
  `learnloop serve` process with learnloop.web.app.create_app swapped for a bare Flask app before
  gunicorn starts), with one more route, POST /wiki/<name>/events, that parses the JSON body and
  answers 200 -- what the slash-command route does with its form.

Both get the same kind of traffic: signed Outline deliveries (`Outline-Signature: t=<ms>,s=<hex
HMAC-SHA256(secret, "<t>.<body>")>`, bodies shaped like Outline's webhook payloads, the document
model taken from tests/fixtures/outline/documents.update.json: 1.7-4.3 KB, 2.7 KB on average). About 90% are
distinct `documents.update` deliveries (unique delivery ids over a catalogue of documents, editors
and collections); the rest (--redeliveries, default 0.10) are redeliveries of an earlier delivery
that was already sent, byte for byte the same body, signed again: learnloop must answer 200 and
queue nothing. Outline refuses nothing older than 5 minutes here, so requests are built and
signed just before each phase, never for the whole run (a phase that sends more than was built
builds more on the fly, and says so).

For each server it measures, with the load generator of scripts/bench_common.py:

1. throughput: a closed loop of --concurrency connections for --duration seconds, repeated
   --rounds times, alternating which server goes first (the machine is shared and noisy);
2. latency: an open loop at --rate deliveries/s for --duration seconds, latency measured from
   each request's scheduled send time (no coordinated omission): p50/p99/max and errors.

It prints events/s, p50/p99, CPU per event, the learnloop/bare throughput ratio (all rounds pooled,
which is what PASS/FAIL against the target of >= 0.5 uses, and per round: each round measures
both servers back to back, so its ratio is the least disturbed by other load that comes and goes),
and how much CPU other processes on the machine took during each phase. Then it checks what learnloop stored (plain SQL on its outbox):
one `wiki.fetch` row per distinct delivery id that was acknowledged, each naming the document,
action and editor of its delivery, nothing else queued; every redelivery answered 200 without
queuing again; no 5xx from either server.

Exit status: 0 when it ran (even if the target is missed, unless --strict: then 3), 1 when
learnloop's answers or stored data were wrong, 2 when the benchmark could not run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import hmac
import json
import os
import random
import secrets
import subprocess
import sys
import textwrap
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_inbound as inbound  # noqa: E402  (the core benchmark: its baseline app, servers and database helpers)
from bench_common import (  # noqa: E402
    PhaseResult,
    closed_loop,
    median,
    open_loop,
)

HOST = inbound.HOST
ms, verdict = inbound.ms, inbound.verdict
WIKI = "docs"
ROUTE = f"/wiki/{WIKI}/events"
WIKI_URL = "https://outline.example.com"
API_TOKEN = "ol_api_x"
FETCH_KIND = "wiki.fetch"
GENERATOR = inbound.GENERATOR
TARGET_RATIO = 0.5
DEFAULT_RATE = 200.0
MAX_DURATION = 240.0  # requests are signed when a phase is built; Outline's window is 5 minutes
REDELIVERY_GAP = 200  # a redelivery names an original sent at least this many requests earlier
REDELIVERY_WINDOW = 5000  # ... among the most recent originals sent
ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "outline" / "documents.update.json"

# The core benchmark's bare app, plus the webhook route: parse the body, answer 200.
WIKI_ROUTE = '''

@bare.post("/wiki/<name>/events")
def wiki_events(name):
    delivery = request.get_json(force=True, silent=True) or {}
    return jsonify(status="ok", queued=1, ignored=False, app="bench-bare", id=delivery.get("id", "")), 200

'''
_ANCHOR = "\ndef create_bare_app"
if _ANCHOR not in inbound.BARE_APP:
    raise SystemExit("scripts/bench_inbound.py's BARE_APP has no create_bare_app: cannot add the webhook route")
BARE_APP = inbound.BARE_APP.replace(_ANCHOR, WIKI_ROUTE + _ANCHOR, 1).replace(
    "Written by scripts/bench_inbound.py.", "Written by scripts/bench_wiki_ingest.py (bench_inbound's bare app "
    "plus POST /wiki/<name>/events).")

WORDS = inbound.WORDS
SENTENCES = [
    "Start with the setup checklist before your first deploy.", "Ask the on-call engineer about VPN access.",
    "The rollback steps changed after the last incident.", "Every service needs a runbook and an owner.",
    "Metrics dashboards live in the shared folder.", "Review the budget with your lead every quarter.",
    "Terraform plans must be reviewed by a second person.", "Postmortems are blameless and public.",
    "Kafka topics are created through the platform portal.", "Security reviews take about two weeks.",
]
FIRST = ["Ada", "Grace", "Alan", "Barbara", "Edsger", "Frances", "Donald", "Margaret", "Ken", "Radia"]
LAST = ["Lovelace", "Hopper", "Turing", "Liskov", "Dijkstra", "Allen", "Knuth", "Hamilton", "Thompson", "Perlman"]


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)  # as JSON.stringify sends it


# --------------------------------------------------------------------------------------------
# The workload: Outline deliveries, built and signed per phase


@dataclass(frozen=True)
class Original:
    """A delivery that was (or will be) sent once; redeliveries resend its body."""

    event_id: str
    body: bytes
    document: int  # index in the catalogue
    actor: str
    batch: int
    position: int


@dataclass
class Batch:
    """The requests of one phase, in order; meta[i] = (the delivery, whether it is a redelivery)."""

    number: int
    signed_at_ms: int
    requests: list[bytes] = field(default_factory=list)
    meta: list[tuple[Original, bool]] = field(default_factory=list)
    built_during_phase: int = 0
    build_seconds: float = 0.0


class Deliveries:
    """A deterministic stream of Outline deliveries for one server (both servers use the same seed)."""

    def __init__(self, seed: int, secret: str, *, documents: int, users: int, redelivery_fraction: float) -> None:
        self.rng = random.Random(seed)
        self.secret = secret.encode()
        self.redelivery_fraction = redelivery_fraction
        rng = self.rng
        template = self._template()
        self.subscription = _uuid(rng)
        self.users = [{"id": _uuid(rng), "name": f"{FIRST[n % len(FIRST)]} {LAST[(n // len(FIRST)) % len(LAST)]}"
                       + (f" {n // 100}" if n >= 100 else ""), "avatarUrl": None, "color": "#FF5C80",
                       "role": "member", "isSuspended": False, "createdAt": "2026-01-12T10:00:00.000Z",
                       "updatedAt": "2026-11-02T08:50:00.000Z", "lastActiveAt": "2026-11-02T08:58:00.000Z",
                       "timezone": "Europe/London"} for n in range(users)]
        self.user_json = [_compact(user) for user in self.users]
        collections_ = [_uuid(rng) for _ in range(8)]
        self.documents: list[tuple[str, str]] = []  # (id, model JSON with markers)
        self.revision: list[int] = []
        for n in range(documents):
            doc_id = _uuid(rng)
            url_id = "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(10))
            title = f"{WORDS[n % len(WORDS)]} {rng.choice(['guide', 'notes', 'runbook', 'FAQ', 'checklist'])} {n}"
            paragraphs = [" ".join(rng.choice(SENTENCES) for _ in range(rng.randint(1, 4)))
                          for _ in range(rng.randint(1, 7))]
            model = dict(template)
            model.update({
                "id": doc_id, "url": f"/doc/{title.lower().replace(' ', '-')}-{url_id}", "urlId": url_id,
                "title": title, "text": "\n\n".join(paragraphs),
                "data": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]}
                                                    for p in paragraphs]},
                "createdAt": "2026-10-01T09:00:00.000Z", "createdBy": "@@CREATED_BY@@",
                "updatedAt": "@@UPDATED_AT@@", "updatedBy": "@@UPDATED_BY@@", "revision": "@@REVISION@@",
                "publishedAt": "2026-10-01T09:00:00.000Z", "collectionId": rng.choice(collections_),
                "collaboratorIds": [],
            })
            creator = rng.randrange(users)
            text = _compact(model).replace('"@@CREATED_BY@@"', self.user_json[creator])
            self.documents.append((doc_id, text))
            self.revision.append(rng.randint(1, 20))
        weights = [1 / (n + 1) ** 0.7 for n in range(documents)]  # some pages are edited much more often
        self.cum_weights = list(inbound._accumulate(weights))
        self.recent: list[Original] = []  # originals sent in earlier phases (the last REDELIVERY_WINDOW)
        self.pending: list[Original] = []  # this batch's originals, in order
        self.eligible = 0  # how many of them are at least REDELIVERY_GAP requests behind
        self.batches = 0
        self.originals_built = 0
        self.body_bytes = 0
        self.bodies = 0

    @staticmethod
    def _template() -> dict[str, Any]:
        """The document model of Outline's documents.update delivery, from the fixture when there is one."""
        try:
            model = json.loads(FIXTURE.read_text())["payload"]["model"]
            if isinstance(model, dict) and model:
                return model
        except (OSError, ValueError, KeyError, TypeError):
            pass
        return {"id": "", "url": "", "urlId": "", "title": "", "data": {}, "text": "", "icon": None, "color": None,
                "tasks": {"completed": 0, "total": 0}, "language": "en", "createdAt": "", "createdBy": None,
                "updatedAt": "", "updatedBy": None, "publishedAt": "", "archivedAt": None, "deletedAt": None,
                "collaboratorIds": [], "revision": 1, "fullWidth": False, "collectionId": "",
                "parentDocumentId": None, "lastViewedAt": None, "isCollectionDeleted": False, "templateId": None,
                "insightsEnabled": True, "popularityScore": 0}

    def document_id(self, index: int) -> str:
        return self.documents[index][0]

    def _sign(self, body: bytes, stamp: int) -> bytes:
        digest = hmac.new(self.secret, b"%d." % stamp + body, hashlib.sha256).hexdigest()
        head = (f"POST {ROUTE} HTTP/1.1\r\nHost: {HOST}\r\nContent-Type: application/json\r\n"
                f"User-Agent: Outline-Webhooks\r\nContent-Length: {len(body)}\r\n"
                f"Outline-Signature: t={stamp},s={digest}\r\n\r\n")
        return head.encode("latin-1") + body

    def _original(self, batch: Batch, now: datetime) -> Original:
        rng = self.rng
        document = rng.choices(range(len(self.documents)), cum_weights=self.cum_weights)[0]
        doc_id, model = self.documents[document]
        self.revision[document] += 1
        editor = rng.randrange(len(self.users))
        updated = now - timedelta(milliseconds=rng.randint(200, 3000))
        model = (model.replace('"@@UPDATED_AT@@"', f'"{_iso(updated)}"')
                 .replace('"@@UPDATED_BY@@"', self.user_json[editor])
                 .replace('"@@REVISION@@"', str(self.revision[document])))
        event_id = _uuid(rng)
        body = (f'{{"id":"{event_id}","actorId":"{self.users[editor]["id"]}",'
                f'"webhookSubscriptionId":"{self.subscription}","createdAt":"{_iso(now)}",'
                f'"event":"documents.update","payload":{{"id":"{doc_id}","model":{model}}}}}').encode()
        self.originals_built += 1
        return Original(event_id, body, document, self.users[editor]["name"], batch.number, len(batch.requests))

    def new_batch(self) -> Batch:
        self.batches += 1
        self.pending, self.eligible = [], 0
        return Batch(self.batches, int(time.time() * 1000))

    def extend(self, batch: Batch, count: int) -> None:
        """Append `count` signed requests to the batch (signed with the batch's time)."""
        started = time.perf_counter()
        rng, now = self.rng, datetime.now(timezone.utc)
        for _ in range(count):
            position = len(batch.requests)
            pending, recent = self.pending, self.recent
            while self.eligible < len(pending) and pending[self.eligible].position <= position - REDELIVERY_GAP:
                self.eligible += 1
            total = len(recent) + self.eligible
            if total and rng.random() < self.redelivery_fraction:
                # one of the last REDELIVERY_WINDOW originals that are sure to have been sent before
                window = min(total, REDELIVERY_WINDOW)
                k = total - window + rng.randrange(window)
                original = recent[k] if k < len(recent) else pending[k - len(recent)]
                batch.requests.append(self._sign(original.body, batch.signed_at_ms))
                batch.meta.append((original, True))
            else:
                original = self._original(batch, now)
                self.pending.append(original)
                batch.requests.append(self._sign(original.body, batch.signed_at_ms))
                batch.meta.append((original, False))
                self.body_bytes += len(original.body)
                self.bodies += 1
        batch.build_seconds += time.perf_counter() - started

    def finish(self, batch: Batch, used: int) -> None:
        """After the phase: only originals that were sent may be redelivered later."""
        self.recent = (self.recent + [o for o in self.pending if o.position < used])[-REDELIVERY_WINDOW:]
        self.pending, self.eligible = [], 0


# --------------------------------------------------------------------------------------------
# What each server answered


@dataclass
class Tracker:
    """Per server: which deliveries were acknowledged, refused, lost; per event id what was queued."""

    name: str
    accepts: bytes  # an answer is a success only if it contains this
    deliveries: Deliveries
    batch: Batch | None = None
    next: int = 0
    sent_at: dict[int, float] = field(default_factory=dict)  # redeliveries only: index -> monotonic time
    expected: dict[str, tuple[int, str]] = field(default_factory=dict)  # event id -> (document, actor)
    acked: set[str] = field(default_factory=set)  # event ids with a 200 answer
    acked_at: dict[str, float] = field(default_factory=dict)  # first 200
    queued: Counter[str] = field(default_factory=Counter)  # sum of "queued" over 200 answers
    unanswered: set[str] = field(default_factory=set)
    originals_ok: int = 0
    redeliveries_sent: int = 0
    redeliveries_ok: int = 0
    redeliveries_requeued: int = 0  # 200 with queued=1 although the original had been acknowledged before
    redeliveries_refused: Counter[int] = field(default_factory=Counter)
    bad_answers: int = 0
    refused: Counter[int] = field(default_factory=Counter)
    samples: list[str] = field(default_factory=list)
    built: int = 0
    built_during_phases: int = 0
    build_seconds: float = 0.0

    def start_phase(self, count: int) -> None:
        self.batch = self.deliveries.new_batch()
        self.deliveries.extend(self.batch, count)
        self.next = 0
        self.sent_at.clear()

    def end_phase(self) -> None:
        batch = self.batch
        assert batch is not None
        self.deliveries.finish(batch, self.next)
        self.built += len(batch.requests)
        self.built_during_phases += batch.built_during_phase
        self.build_seconds += batch.build_seconds
        self.batch = None

    def next_index(self) -> int:
        index = self.next
        self.next += 1
        return index

    def request_for(self, index: int) -> bytes:
        batch = self.batch
        assert batch is not None
        if index >= len(batch.requests):  # more than was built: build on (costs client CPU mid-phase)
            before = len(batch.requests)
            self.deliveries.extend(batch, max(500, index + 1 - before))
            batch.built_during_phase += len(batch.requests) - before
        original, redelivery = batch.meta[index]
        if not redelivery:
            self.expected[original.event_id] = (original.document, original.actor)
        else:
            self.redeliveries_sent += 1
            self.sent_at[index] = time.monotonic()
        return batch.requests[index]

    def on_response(self, index: int, status: int, body: bytes, error: str | None) -> None:
        assert self.batch is not None
        original, redelivery = self.batch.meta[index]
        event_id = original.event_id
        if error is not None:  # may or may not have been queued
            self.unanswered.add(event_id)
            self._sample(error, body)
            return
        if status != 200 or self.accepts not in body:
            self.refused[status] += 1
            if redelivery:
                self.redeliveries_refused[status] += 1
            self._sample(str(status), body)
            return
        queued = 0
        if self.name == "learnloop":
            try:
                answer = json.loads(body)
                queued = int(answer["queued"])
                if answer.get("status") != "ok" or answer.get("ignored") is not False or queued not in (0, 1):
                    raise ValueError("unexpected answer")
            except (ValueError, KeyError, TypeError):
                self.bad_answers += 1
                self._sample(f"{status} (unexpected body)", body)
                return
        now = time.monotonic()
        if not redelivery:
            self.originals_ok += 1
        else:
            self.redeliveries_ok += 1
            first_ack = self.acked_at.get(event_id)
            if queued and first_ack is not None and first_ack < self.sent_at.pop(index, now):
                self.redeliveries_requeued += 1
        self.sent_at.pop(index, None)
        self.acked.add(event_id)
        self.acked_at.setdefault(event_id, now)
        self.queued[event_id] += queued

    def _sample(self, what: str, body: bytes) -> None:
        if len(self.samples) < 5:
            self.samples.append(f"{what}: {body[:300].decode('utf-8', 'replace')}")


# --------------------------------------------------------------------------------------------
# Servers, and a check that learnloop's Outline host takes our deliveries


def wiki_toml(secret: str) -> str:
    return textwrap.dedent(f"""\
        # Written by scripts/bench_wiki_ingest.py: one Outline wiki; every other setting comes from the environment.
        [[wikis]]
        name = "{WIKI}"
        kind = "outline"
        url = "{WIKI_URL}"
        secret = "{secret}"
        api_token = "{API_TOKEN}"
        """)


HOST_CHECK = r'''
import json, sys
from datetime import datetime, timezone
sample = json.load(sys.stdin)
from learnloop.config import WikiConfig
from learnloop.wikis import host_for
wiki = WikiConfig(name=sample["wiki"], kind="outline", url=sample["url"], secret=sample["secret"], api_token=sample["token"])
host = host_for(wiki)
jobs = host.receive(wiki, sample["body"].encode(), {"Outline-Signature": sample["signature"], "Content-Type": "application/json"},
                    {}, datetime.now(timezone.utc))
print(json.dumps({"host": type(host).__module__ + "." + type(host).__name__, "jobs": jobs}))
'''


def check_host(secret: str) -> dict[str, Any]:
    """In a fresh interpreter (the servers' environment): learnloop's Outline host imports, verifies one
    of our signed deliveries and parses it into the fetch job we expect. Raises RuntimeError."""
    probe = Deliveries(1, secret, documents=3, users=3, redelivery_fraction=0.0)
    batch = probe.new_batch()
    probe.extend(batch, 1)
    original = batch.meta[0][0]
    request = batch.requests[0]
    signature = request.split(b"Outline-Signature: ", 1)[1].split(b"\r\n", 1)[0].decode()
    sample = {"wiki": WIKI, "url": WIKI_URL, "secret": secret, "token": API_TOKEN,
              "body": original.body.decode(), "signature": signature}
    try:
        done = subprocess.run([sys.executable, "-c", HOST_CHECK], input=json.dumps(sample), capture_output=True,
                              text=True, timeout=60, cwd=ROOT)
    except subprocess.TimeoutExpired:
        raise RuntimeError("the Outline host check took more than 60 s") from None
    if done.returncode != 0:
        raise RuntimeError("learnloop's Outline host does not take a signed delivery:\n"
                           + textwrap.indent(done.stderr.strip()[-2000:], "  "))
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    jobs = answer["jobs"]
    expected = {"event_id": original.event_id, "document_id": probe.document_id(original.document),
                "action": "updated", "actor": original.actor}
    if len(jobs) != 1 or any(jobs[0].get(k) != v for k, v in expected.items()):
        raise RuntimeError(f"learnloop's Outline host parsed our delivery into {jobs}, expected one job like {expected}")
    return answer


def wait_for_host(secret: str, wait: float, every: float = 30.0) -> dict[str, Any]:
    """check_host, retried every `every` seconds for up to `wait` seconds (bounded)."""
    deadline = time.monotonic() + wait
    while True:
        try:
            return check_host(secret)
        except RuntimeError as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                raise
            first_line = str(exc).strip().splitlines()[-1][:200]
            log(f"Outline host not ready ({first_line}); trying again in {min(every, left):.0f} s")
            time.sleep(min(every, left))


# --------------------------------------------------------------------------------------------
# The measurement


async def measure(args: argparse.Namespace, run: inbound.BenchRun, trackers: dict[str, Tracker]) -> dict[str, Any]:
    servers = run.servers
    estimate = {name: float(args.initial_estimate) for name in servers}  # events/s, to size closed-loop batches

    async def phase(name: str, label: str, *, closed: bool, concurrency: int, duration: float) -> PhaseResult:
        tracker = trackers[name]
        count = (int(estimate[name] * duration * 1.3) + 200) if closed else max(1, int(args.rate * duration))
        tracker.start_phase(count)  # built and signed now, just before it is sent
        common = {"request_for": tracker.request_for, "next_index": tracker.next_index,
                  "on_response": tracker.on_response, "server_pids": run.pids(name)}
        try:
            if closed:
                result = await closed_loop(label, HOST, servers[name].port, concurrency=concurrency,
                                           duration=duration, **common)
                estimate[name] = max(estimate[name], result.rps)
            else:
                result = await open_loop(label, HOST, servers[name].port, rate=args.rate, duration=duration,
                                         **common)
        finally:
            tracker.end_phase()
        return result

    for name in servers:
        if args.warmup:
            log(f"warm-up {name}: {args.warmup:g} s")
            warm = await phase(name, f"{name} warm-up", closed=True, concurrency=4, duration=args.warmup)
            estimate[name] = max(warm.rps * 1.5, 200.0)
    closed: dict[str, list[PhaseResult]] = {name: [] for name in servers}
    for round_ in range(args.rounds):
        order = list(servers) if round_ % 2 == 0 else list(reversed(servers))
        for name in order:
            log(f"closed loop {name}, round {round_ + 1}/{args.rounds}: {args.concurrency} connections, "
                f"{args.duration:g} s")
            result = await phase(name, name, closed=True, concurrency=args.concurrency, duration=args.duration)
            log(f"  {result.rps:.0f} events/s")
            closed[name].append(result)
            await asyncio.sleep(0.5)
    opened: dict[str, PhaseResult] = {}
    for name in servers:
        log(f"open loop {name}: {args.rate:g} events/s for {args.duration:g} s")
        opened[name] = await phase(name, name, closed=False, concurrency=0, duration=args.duration)
        await asyncio.sleep(0.5)
    results: dict[str, Any] = {name: {"closed": inbound.combined(closed[name]), "open": opened[name].summary()}
                               for name in servers}
    # each round measured both servers back to back: its ratio is the least disturbed by drifting noise
    results["round_ratios"] = [round(learn.rps / bare.rps, 3) if bare.rps else 0.0
                               for learn, bare in zip(closed["learnloop"], closed["bare"])]
    return results


# --------------------------------------------------------------------------------------------
# Checking what learnloop queued


def verify_outbox(tracker: Tracker, deliveries: Deliveries, database_url: str) -> dict[str, Any]:
    """Reads the outbox with plain SQL (not learnloop's models: only the columns checked here)."""
    from sqlalchemy import create_engine, text  # learnloop's own dependency

    engine = create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = [dict(row) for row in connection.execute(
                text("SELECT kind, payload, idempotency_key, status FROM outbox")).mappings()]
    except Exception as exc:  # noqa: BLE001  (report what could not be read)
        return {"ok": False, "problems": [f"could not read the outbox: {type(exc).__name__}: {str(exc)[:300]}"]}
    finally:
        engine.dispose()
    problems: list[str] = []
    other_kinds = Counter(row["kind"] for row in rows if row["kind"] != FETCH_KIND)
    fetch = [row for row in rows if row["kind"] == FETCH_KIND]
    stored: dict[str, int] = Counter()
    wrong = unknown = bad_key = not_pending = 0
    for row in fetch:
        payload = row["payload"]
        if isinstance(payload, (str, bytes)):
            payload = json.loads(payload)
        event_id = str(payload.get("event_id"))
        stored[event_id] += 1
        if row["idempotency_key"] != f"wiki:{WIKI}:{event_id}"[:200]:
            bad_key += 1
        if row["status"] != "pending":
            not_pending += 1
        expected = tracker.expected.get(event_id)
        if expected is None:
            unknown += 1
            continue
        document, actor = expected
        if (payload.get("wiki") != WIKI or payload.get("document_id") != deliveries.document_id(document)
                or payload.get("action") != "updated" or payload.get("actor") != actor):
            wrong += 1
    acked, possible = tracker.acked, tracker.acked | tracker.unanswered
    stored_ids = set(stored)
    missing = len(acked - stored_ids)
    extra = len(stored_ids - possible)
    twice = sum(1 for n in stored.values() if n > 1)
    if not len(acked) <= len(fetch) <= len(possible):
        problems.append(f"{len(fetch)} {FETCH_KIND} rows for {len(acked)} distinct delivery ids acknowledged"
                        + (f" (+{len(possible) - len(acked)} unanswered)" if possible != acked else ""))
    if missing:
        problems.append(f"{missing} acknowledged delivery ids have no {FETCH_KIND} row")
    if extra or unknown:
        problems.append(f"{max(extra, unknown)} {FETCH_KIND} rows name a delivery id that was never acknowledged")
    if twice:
        problems.append(f"{twice} delivery ids were queued more than once")
    if wrong:
        problems.append(f"{wrong} {FETCH_KIND} rows name another document, action or editor than their delivery")
    if bad_key:
        problems.append(f"{bad_key} rows have an unexpected idempotency key")
    if not_pending:
        problems.append(f"{not_pending} rows are not pending (nothing should have delivered them)")
    if other_kinds:
        problems.append(f"other outbox rows were written: {dict(other_kinds)}")
    over = sum(1 for n in tracker.queued.values() if n > 1)
    if over:
        problems.append(f"{over} delivery ids were answered queued=1 more than once")
    under = sum(1 for event_id in tracker.acked if tracker.queued[event_id] == 0 and event_id not in tracker.unanswered)
    if under:
        problems.append(f"{under} delivery ids were acknowledged but never answered queued=1 (and none was lost)")
    if tracker.redeliveries_requeued:
        problems.append(f"{tracker.redeliveries_requeued} redeliveries sent after their original was acknowledged "
                        "were answered queued=1")
    if tracker.redeliveries_refused:
        problems.append(f"redeliveries not answered 200: {dict(tracker.redeliveries_refused)}")
    if tracker.bad_answers:
        problems.append(f"{tracker.bad_answers} 200 answers without the expected JSON")
    return {
        "ok": not problems, "problems": problems, "fetch_rows": len(fetch),
        "distinct_ids_acknowledged": len(acked), "ids_unanswered": len(tracker.unanswered - acked),
        "originals_acknowledged": tracker.originals_ok, "redeliveries_sent": tracker.redeliveries_sent,
        "redeliveries_acknowledged": tracker.redeliveries_ok, "other_outbox_rows": dict(other_kinds),
    }


# --------------------------------------------------------------------------------------------
# The run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = inbound.new_parser(__doc__)
    parser.add_argument("--duration", type=float, default=6.0,
                        help=f"seconds of each measured phase (default 6, at most {MAX_DURATION:g}: requests are "
                             "signed before each phase and Outline signatures are good for 5 minutes)")
    parser.add_argument("--rounds", type=int, default=3, help="closed-loop rounds per server, alternating order (default 3)")
    parser.add_argument("--rate", type=float, default=DEFAULT_RATE, help="open-loop deliveries per second (default 200)")
    inbound.add_server_options(parser)
    parser.add_argument("--redeliveries", type=float, default=0.10,
                        help="fraction of requests that redeliver an earlier delivery (default 0.10)")
    parser.add_argument("--documents", type=int, default=400, help="Outline documents being edited (default 400)")
    parser.add_argument("--users", type=int, default=60, help="Outline editors (default 60)")
    parser.add_argument("--seed", type=int, default=20261104, help="workload seed (default fixed)")
    parser.add_argument("--initial-estimate", type=int, default=1000,
                        help="events/s assumed to size the first closed-loop batch when there is no warm-up (default 1000)")
    parser.add_argument("--wait-for-host", type=float, default=0.0, metavar="SECONDS",
                        help="if learnloop's Outline host does not import or take our deliveries yet, try again "
                             "every 30 s for up to SECONDS (default 0: fail at once)")
    inbound.add_output_options(parser, strict="exit 3 when the throughput target is missed")
    args = parser.parse_args(argv)
    if not 0.5 <= args.duration <= MAX_DURATION or not 1 <= args.rounds <= 20 or not 1 <= args.concurrency <= 512 \
            or not 1 <= args.workers <= 64 or not 1 <= args.rate <= 20000 or not 0 <= args.warmup <= 60 \
            or not 0 <= args.redeliveries <= 0.5 or not 1 <= args.documents <= 100_000 or not 1 <= args.users <= 10_000 \
            or not 100 <= args.initial_estimate <= 100_000 or not 0 <= args.wait_for_host <= 3600 \
            or (args.threads is not None and not 1 <= args.threads <= 64):
        parser.error(f"out of range: duration 0.5..{MAX_DURATION:g}, rounds 1..20, concurrency 1..512, workers 1..64, "
                     "rate 1..20000, warmup 0..60, redeliveries 0..0.5, documents 1..100000, users 1..10000, "
                     "initial-estimate 100..100000, wait-for-host 0..3600, threads 1..64")
    return args


def report(results: dict[str, Any], correctness: dict[str, Any], trackers: dict[str, Tracker], args: argparse.Namespace,
           database: inbound.Database, meta: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    bare, learn = results["bare"], results["learnloop"]
    round_ratios = results.pop("round_ratios")
    for name in results:  # the machine is shared: how much CPU did other processes take meanwhile?
        for mode in ("closed", "open"):
            summary = results[name][mode]
            used = (summary["server_cores_used"] or 0) + (summary["client_cores_used"] or 0)
            summary["other_processes_cores"] = round(max(0.0, summary["machine"].get("busy_pct", 0) / 100
                                                         * (os.cpu_count() or 1) - used), 2)
    ratio = learn["closed"]["rps"] / bare["closed"]["rps"] if bare["closed"]["rps"] else 0.0
    cpu_ratio = (bare["closed"]["server_cpu_ms_per_req"] / learn["closed"]["server_cpu_ms_per_req"]
                 if learn["closed"]["server_cpu_ms_per_req"] else 0.0)
    fivexx = sum(results[n][m]["status_5xx"] for n in results for m in ("closed", "open"))
    checks = {
        "throughput_ratio": {"value": round(ratio, 3), "target": f">= {TARGET_RATIO}", "pass": ratio >= TARGET_RATIO},
        "open_loop_kept_up": {"value": learn["open"]["rps"], "pass": learn["open"]["rps"] >= 0.95 * args.rate},
        "no_5xx": {"value": fivexx, "pass": fivexx == 0},
        "all_deliveries_accepted": {"value": {n: dict(t.refused) for n, t in trackers.items()},
                                    "pass": not any(t.refused for t in trackers.values())},
        "outbox": {"pass": correctness.get("ok", False)},
    }
    performance_ok = checks["throughput_ratio"]["pass"]
    correct = all(checks[k]["pass"] for k in ("no_5xx", "all_deliveries_accepted", "outbox"))
    data = {
        "generator": GENERATOR, "config": meta, "database": database.kind,
        "servers": results, "round_ratios": round_ratios, "median_round_ratio": median(round_ratios),
        "cpu_cost_ratio_bare_over_learnloop": round(cpu_ratio, 3),
        "checks": checks, "correctness": correctness, "performance_pass": performance_ok, "correct": correct,
    }
    if args.json:
        print(json.dumps(data, indent=2))
        return data, performance_ok

    workload = meta["workload"]
    lines = [
        "",
        f"learnloop wiki ingestion benchmark at {meta['revision']}: POST {ROUTE} (Outline, signed), "
        f"{meta['workers']} gunicorn workers ({meta['worker_class']}, threads: {meta['threads']}, via `learnloop serve`) "
        "each, "
        f"database {database.kind}",
        f"load generator: {GENERATOR}",
        f"workload: documents.update deliveries, {workload['mean_body_bytes']} bytes on average, "
        f"{100 * workload['redelivery_share']:.1f}% redeliveries; {workload['requests_built']} requests built and "
        f"signed just before their phase ({workload['build_seconds']:.1f} s), "
        f"{workload['built_during_phases']} more during phases",
        f"closed loop: {args.concurrency} connections x {args.duration:g} s x {args.rounds} rounds; "
        f"open loop: {args.rate:g} events/s x {args.duration:g} s, latency from scheduled send time",
        f"machine: {meta['cpus']} CPUs; busy/steal during closed loops: bare {bare['closed']['machine']['busy_pct']}%/"
        f"{bare['closed']['machine']['steal_pct']}%, learnloop {learn['closed']['machine']['busy_pct']}%/"
        f"{learn['closed']['machine']['steal_pct']}%; client used {bare['closed']['client_cores_used']} / "
        f"{learn['closed']['client_cores_used']} cores; other processes used {bare['closed']['other_processes_cores']} / "
        f"{learn['closed']['other_processes_cores']} cores (open loops: {bare['open']['other_processes_cores']} / "
        f"{learn['open']['other_processes_cores']})",
        "",
        inbound.servers_table(results, args.rate, per_second="events/s", cpu="cpu ms/ev"),
        "",
        f"throughput ratio learnloop/bare: {ratio:.2f} (target >= {TARGET_RATIO}) {verdict(checks['throughput_ratio']['pass'])}"
        f"; per round {' '.join(f'{r:.2f}' for r in round_ratios)} (median {median(round_ratios):.2f})",
        f"learnloop latency at {args.rate:g} events/s: p50 {ms(learn['open']['p50_ms'])} ms, "
        f"p99 {ms(learn['open']['p99_ms'])} ms, max {ms(learn['open']['max_ms'])} ms (bare: p99 {ms(bare['open']['p99_ms'])} ms)",
        *inbound.kept_up_and_cpu_lines(results, checks, args.rate, cpu_ratio, database, unit="event",
                                       per_second="events/s"),
    ]
    if correctness:
        lines.append(
            f"correctness {verdict(correct)}: {correctness.get('fetch_rows')} {FETCH_KIND} rows for "
            f"{correctness.get('distinct_ids_acknowledged')} distinct delivery ids acknowledged; "
            f"{correctness.get('redeliveries_acknowledged')} of {correctness.get('redeliveries_sent')} redeliveries "
            f"answered 200; 5xx: {fivexx}"
        )
        for problem in correctness.get("problems", []):
            lines.append(f"  problem: {problem}")
    for name, tracker in trackers.items():
        if tracker.refused or tracker.unanswered or tracker.bad_answers:
            lines.append(f"  {name}: refused {dict(tracker.refused)}, unanswered {len(tracker.unanswered)}; e.g. "
                         + " | ".join(tracker.samples[:2]))
    print("\n".join(lines))
    return data, performance_ok


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    secret = "bench-outline-" + secrets.token_hex(20)

    def body(run: inbound.BenchRun) -> int:
        deliveries = {name: Deliveries(args.seed, secret, documents=args.documents, users=args.users,
                                       redelivery_fraction=args.redeliveries) for name in ("bare", "learnloop")}
        host = wait_for_host(secret, args.wait_for_host)
        log(f"Outline host {host['host']} verifies and parses our deliveries")
        run.database = database = inbound.prepare_database(args.database_url, run.workdir)
        run.servers = inbound.make_servers(run.workdir, args.workers, database, args.threads, bare_app=BARE_APP,
                                           config=wiki_toml(secret))  # the same file for both
        inbound.start_servers(run.servers, args.workers)
        gc.collect()
        gc.freeze()  # the catalogues never need the cycle collector
        trackers = {
            "bare": Tracker("bare", b'"app":"bench-bare"', deliveries["bare"]),
            "learnloop": Tracker("learnloop", b'"status":"ok"', deliveries["learnloop"]),
        }
        results = asyncio.run(measure(args, run, trackers))
        run.stop()
        log("checking what learnloop queued")
        correctness = verify_outbox(trackers["learnloop"], deliveries["learnloop"], database.url)
        built = sum(t.built for t in trackers.values())
        sent = sum(len(t.expected) + t.redeliveries_sent for t in trackers.values())
        bodies = sum(d.bodies for d in deliveries.values())
        meta = {"revision": inbound._revision(), "workers": args.workers, "threads": args.threads
                or f"{inbound.default_web_threads(database.url)} (learnloop's default)",
                "worker_class": inbound.gunicorn_worker_class(run.servers),
                "cpus": os.cpu_count(), "duration_s": args.duration, "rounds": args.rounds,
                "concurrency": args.concurrency, "rate": args.rate, "warmup_s": args.warmup, "seed": args.seed,
                "documents": args.documents, "users": args.users, "outline_host": host["host"],
                "workload": {
                    "requests_built": built, "requests_sent": sent,
                    "built_during_phases": sum(t.built_during_phases for t in trackers.values()),
                    "build_seconds": round(sum(t.build_seconds for t in trackers.values()), 2),
                    "mean_body_bytes": round(sum(d.body_bytes for d in deliveries.values()) / max(1, bodies)),
                    "redelivery_share": round(sum(t.redeliveries_sent for t in trackers.values()) / max(1, sent), 4),
                },
                "elapsed_s": round(time.monotonic() - started, 1)}
        data, performance_ok = report(results, correctness, trackers, args, database, meta)
        if not data["correct"]:
            return 1
        return 3 if args.strict and not performance_ok else 0

    return inbound.run_benchmark(args, "learnloop-bench-wiki-", body)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Wiki ingestion benchmark (issue 4): signed Outline deliveries to POST /wiki/<name>/events under `learnloop
serve`, against the bare Flask app of bench_inbound, on loopback; options as bench_inbound's.

Prints events/s per server and round, p50/p99 at --rate events/s, CPU per event, the ratio learnloop/bare
against its target (>= 0.5), then a check of the outbox: one wiki.fetch row per acknowledged delivery id,
naming its document, action and editor, and nothing else.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import random
import secrets
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import bench_inbound as inbound
import benchlib as b

WIKI, WIKI_URL = "docs", "https://outline.example.com"
ROUTE = f"/wiki/{WIKI}/events"
FETCH_KIND = "wiki.fetch"
SENTENCES = ["Start with the setup checklist.", "Ask the on-call engineer about VPN access.",
             "The rollback steps changed after the last incident.", "Every service needs a runbook and an owner."]


@dataclass(frozen=True)
class Delivery:
    event_id: str
    document: str
    actor: str
    body: bytes


class Deliveries:
    """documents.update deliveries over a catalogue of documents and editors; a share of them (--redeliveries)
    sends an earlier delivery's body again, byte for byte. Each is signed when its phase is built, since Outline
    signatures are good for 5 minutes."""

    def __init__(self, seed: int, secret: str, redeliveries: float, documents: int = 400, users: int = 60) -> None:
        self.rng = random.Random(seed)
        self.secret, self.redeliveries = secret.encode(), redeliveries
        self.users = [(str(uuid.UUID(int=self.rng.getrandbits(128))), f"Editor {n}") for n in range(users)]
        self.documents = [(str(uuid.UUID(int=self.rng.getrandbits(128))), f"Runbook {n}") for n in range(documents)]
        self.revision = [1] * documents
        self.by_index: dict[int, Delivery] = {}
        self.originals: list[Delivery] = []

    def _original(self, now: datetime) -> Delivery:
        rng = self.rng
        document = min(len(self.documents) - 1, int(rng.paretovariate(1.1)) - 1)
        doc_id, title = self.documents[document]
        user_id, name = self.users[rng.randrange(len(self.users))]
        self.revision[document] += 1
        event_id = str(uuid.UUID(int=rng.getrandbits(128)))
        text = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(20, 60)))
        stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
        model = {"id": doc_id, "title": title, "text": text, "url": f"/doc/{doc_id[:8]}", "revision":
                 self.revision[document], "updatedAt": stamp, "updatedBy": {"id": user_id, "name": name},
                 "createdBy": {"id": user_id, "name": name}, "collectionId": "c0llect10n", "publishedAt": stamp}
        body = json.dumps({"id": event_id, "actorId": user_id, "webhookSubscriptionId": "sub", "createdAt": stamp,
                           "event": "documents.update", "payload": {"id": doc_id, "model": model}},
                          separators=(",", ":")).encode()
        return Delivery(event_id, doc_id, name, body)

    def batch(self, first: int, count: int) -> list[bytes]:
        """Requests for indices first .. first+count-1, signed now."""
        now, stamp = datetime.now(UTC), int(time.time() * 1000)
        out = []
        for index in range(first, first + count):
            if self.originals and self.rng.random() < self.redeliveries:
                delivery = self.originals[-self.rng.randint(1, min(5000, len(self.originals)))]
            else:
                delivery = self._original(now)
                self.originals.append(delivery)
            self.by_index[index] = delivery
            digest = hmac.new(self.secret, b"%d." % stamp + delivery.body, hashlib.sha256).hexdigest()
            out.append(b.raw_post(ROUTE, delivery.body, {"Outline-Signature": f"t={stamp},s={digest}",
                                                         "User-Agent": "Outline-Webhooks"}, "application/json"))
        return out


def wiki_toml(secret: str) -> str:
    return (f'[[wikis]]\nname = "{WIKI}"\nkind = "outline"\nurl = "{WIKI_URL}"\nsecret = "{secret}"\n'
            'api_token = "ol_api_bench"\n')


def check_outbox(deliveries: Deliveries, sent: inbound.Server, url: str) -> list[str]:
    """One wiki.fetch row per acknowledged delivery id, each naming its delivery's document, action and editor;
    no row for an id never sent; nothing else queued."""
    certain = {deliveries.by_index[i].event_id for i in sent.certain}
    possible = {deliveries.by_index[i].event_id: deliveries.by_index[i] for i in sent.possible}
    rows = b.sql(url, "SELECT kind, payload FROM outbox")
    fetch = [json.loads(p) if isinstance(p, str) else p for kind, p in rows if kind == FETCH_KIND]
    problems = []
    if other := len(rows) - len(fetch):
        problems.append(f"{other} other outbox rows were written")
    stored = [str(payload.get("event_id")) for payload in fetch]
    if len(stored) != len(set(stored)):
        problems.append(f"{len(stored) - len(set(stored))} delivery ids were queued twice")
    if missing := certain - set(stored):
        problems.append(f"{len(missing)} acknowledged delivery ids have no {FETCH_KIND} row")
    if unknown := set(stored) - set(possible):
        problems.append(f"{len(unknown)} {FETCH_KIND} rows name a delivery id never sent")
    wrong = sum(1 for payload in fetch if (d := possible.get(str(payload.get("event_id")))) is not None and (
        payload.get("document_id") != d.document or payload.get("action") != "updated"
        or payload.get("actor") != d.actor))
    if wrong:
        problems.append(f"{wrong} {FETCH_KIND} rows name another document, action or editor than their delivery")
    return problems


def options(parser: argparse.ArgumentParser) -> None:
    inbound.options(parser, duration=6.0, rounds=3)
    parser.add_argument("--redeliveries", type=float, default=0.10, help="share of deliveries sent again")
    parser.add_argument("--seed", type=int, default=20261104)
    parser.set_defaults(worker=False)  # a worker would fetch the queued documents the check reads


def run(args: argparse.Namespace, target: b.Target, workdir: Path,
        cleanups: b.Cleanups) -> tuple[dict[str, inbound.Server], list[str], str]:
    secret = "bench-outline-" + secrets.token_hex(20)
    deliveries = {name: Deliveries(args.seed, secret, args.redeliveries) for name in ("bare", "learnloop")}
    database = b.make_database(args, workdir, "bench_wiki", cleanups)
    servers = inbound.start_pair(target, database, workdir, args, cleanups, config=wiki_toml(secret))
    markers = {"bare": b'"app":"bench-bare"', "learnloop": b'"status":"ok"'}
    inbound.measure(servers, lambda name, first, n: deliveries[name].batch(first, n), markers, args, workdir,
                    expected_rps=2000)
    return servers, check_outbox(deliveries["learnloop"], servers["learnloop"], database.url), database.kind


def report(result: tuple[dict[str, inbound.Server], list[str], str], args: argparse.Namespace,
           target: b.Target) -> int:
    return inbound.report(result, args, target, title=f"wiki ingestion (POST {ROUTE}, signed Outline deliveries, "
                          f"{100 * args.redeliveries:.0f}% redelivered)", unit="event", p99_target=False)


if __name__ == "__main__":
    sys.exit(b.main(__doc__, options, run, report))

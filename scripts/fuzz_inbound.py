"""Fuzz every inbound route of a real `learnloop serve` (SQLite) with the strategies of tests/fuzz, one request
at a time over one kept-alive connection; see docs/performance.md.

    .venv/bin/python scripts/fuzz_inbound.py                  # 10,000 cases per route
    .venv/bin/python scripts/fuzz_inbound.py --cases 200 --routes /mattermost/dialogs /rate

Prints per route: cases sent, 5xx answers, refused requests that changed the database (SQLite's PRAGMA
data_version around each request), forged or replayed requests accepted, requests without an answer; then the
server log's tracebacks and lines that start no log record. Exit status 1 when any of these is not 0."""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import benchlib as b

sys.path.insert(0, str(b.ROOT / "plugin"))
sys.path.insert(0, str(b.ROOT))
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from tests.fuzz import world
from tests.fuzz.oracle import describe, problems, refused
from tests.fuzz.probe import SqliteDataVersion
from tests.fuzz.routes import ROUTES
from tests.fuzz.send import HttpTransport, Sender
from tests.standins.mattermost_http import start_in_thread

RECORD_START = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+: "  # learnloop's own records
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] "  # gunicorn's
    r"|127\.0\.0\.1 \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \"[A-Z]+ "  # the access log
    r"|learnloop serving on )")
TRACEBACK_LINE = re.compile(r"^(Traceback |  |\S+(Error|Exception|Exit|Interrupt)\b|During handling|The above)")


COLUMNS = ("cases", "5xx", "refused", "refused+wrote", "forged accepted", "no answer", "wrote")
MUST_BE_0 = ("5xx", "refused+wrote", "forged accepted", "no answer", "harness error")
KIND = {"answered": "5xx", "changed": "refused+wrote"}  # by a problem's first word; else "forged accepted"


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0


def start_server(folder: Path, mattermost_url: str) -> b.Proc:
    database_url = f"sqlite:///{folder / 'fuzz.db'}"
    env = b.learnloop_env(folder, database_url, world.config_toml(), **world.serve_environment(
        database_url=database_url, mattermost_url=mattermost_url, config_file=str(folder / "learnloop.toml")),
                          HOME=str(folder), LEARNLOOP_HOST=b.HOST, PYTHONPATH=str(b.ROOT / "plugin"))
    port = b.free_port()
    server = b.Proc("serve", [sys.executable, "-m", "learnloop.cli", "serve", "--port", str(port)], env, folder,
                    port).start()
    server.wait_http()
    return server


def fuzz_route(sender: Sender, route: str, mattermost_url: str, cases: int, chosen_seed: int) -> Tally:
    tally = Tally()

    @seed(chosen_seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(ROUTES[route](mattermost_url))
        tally.counts["cases"] += 1
        try:
            sent = sender.send(case)
        except (OSError, AssertionError) as exc:  # AssertionError: what the case needed first was not given
            kind = "no answer" if isinstance(exc, OSError) else "harness error"
            tally.counts[kind] += 1
            tally.examples.setdefault(kind, f"{case.method} {case.path[:120]!r} [{case.note}]: {exc!r}")
            return
        tally.statuses[sent.reply.status] += 1
        tally.counts["refused"] += refused(sent)
        tally.counts["wrote"] += sent.wrote
        for problem in problems(sent):
            tally.counts[kind := KIND.get(problem.split()[0], "forged accepted")] += 1
            tally.examples.setdefault(kind, f"{problem}: {describe(sent)[:1500]}")

    started = time.monotonic()
    run()
    tally.seconds = time.monotonic() - started
    return tally


def read_log(log: Path, start: int) -> tuple[int, list[str]]:
    """Tracebacks in the server's log from byte `start` (once it served), and lines that start no record and
    continue no traceback."""
    tracebacks, strays, in_traceback = 0, [], False
    with open(log, "rb") as handle:
        handle.seek(start)
        text = handle.read().decode("utf-8", "replace")
    for line in text.split("\n"):
        if not line:
            continue
        if line.startswith("Traceback "):
            tracebacks, in_traceback = tracebacks + 1, True
        elif RECORD_START.match(line):
            in_traceback = False
        elif not (in_traceback and TRACEBACK_LINE.match(line)):
            strays.append(line)
    return tracebacks, strays


def table(tallies: dict[str, Tally]) -> str:
    rows: list[list[object]] = [[route, *(t.counts[c] for c in COLUMNS), f"{t.counts['cases'] / t.seconds:.0f}"
                                 if t.seconds else "-"] for route, t in tallies.items()]
    rows.append(["total", *(sum(t.counts[c] for t in tallies.values()) for c in COLUMNS), ""])
    return b.table(["route", *COLUMNS, "cases/s"], rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per route (default 10,000)")
    parser.add_argument("--routes", nargs="+", choices=sorted(ROUTES), default=sorted(ROUTES))
    parser.add_argument("--seed", type=int, default=15, help="hypothesis seed (default 15)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database and log)")
    args = parser.parse_args()

    with b.workspace("learnloop-fuzz-", args.keep) as (folder, _cleanups):
        return fuzz(args, folder)


def fuzz(args: argparse.Namespace, folder: Path) -> int:
    mattermost = start_in_thread(world.mattermost(), latency_ms=0)
    mattermost_url = mattermost.url
    server = start_server(folder, mattermost_url)
    served_from = server.log.stat().st_size  # what it logged while migrating and starting is not a request's doing
    probe = SqliteDataVersion(str(folder / "fuzz.db"))
    transport = HttpTransport(b.HOST, server.port)
    tallies: dict[str, Tally] = {}
    try:
        sender = Sender(transport, probe)
        for route in args.routes:
            tallies[route] = fuzz_route(sender, route, mattermost_url, args.cases, args.seed)
            print(f"{route}: {tallies[route].counts['cases']} cases in {tallies[route].seconds:.0f} s, statuses "
                  f"{dict(sorted(tallies[route].statuses.items()))}", flush=True)
    finally:
        transport.close()
        probe.close()
        server.stop(grace=30)
        mattermost.shutdown()
        mattermost.server_close()
    tracebacks, strays = read_log(server.log, served_from)
    print(f"\nlearnloop serve on SQLite, {args.cases} cases per route, seed {args.seed}\n")
    print(table(tallies))
    print("\n'wrote': requests that changed the database (every one of them accepted): the probe does see writes.")
    errors = sum(t.counts["harness error"] for t in tallies.values())
    print(f"cases the script could not prepare (a one-time link or a page it needed first): {errors}")
    print(f"server log: {tracebacks} tracebacks, {len(strays)} lines that start no record")
    for line in strays[:10]:
        print(f"  stray line: {line[:200]!r}")
    for route, tally in tallies.items():
        for kind, example in tally.examples.items():
            print(f"\n{route}, first {kind}: {example}")
    print(f"\nfolder: {folder}" + ("" if args.keep else " (removed)"))
    failed = any(t.counts[c] for t in tallies.values() for c in MUST_BE_0) or tracebacks or strays
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

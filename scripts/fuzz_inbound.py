"""Fuzz every inbound route of a real `learnloop serve` (gunicorn, SQLite in a temporary folder) with the
strategies of tests/fuzz, and print per route: cases sent, 5xx answers (must be 0), refused requests that
changed the database (must be 0, measured around each request with SQLite's PRAGMA data_version on a
connection of our own), forged or replayed requests that were accepted (must be 0), and requests that got
no answer. The server's log is checked afterwards: tracebacks, and lines that start no log record (a
forged line).

    .venv/bin/python scripts/fuzz_inbound.py                  # 10,000 cases per route
    .venv/bin/python scripts/fuzz_inbound.py --cases 200 --routes /mattermost/dialogs /rate

Requests go one at a time over one kept-alive connection, so each measurement brackets exactly one request.
The exit status is 1 when any of the figures that must be 0 is not."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "plugin")]

from hypothesis import HealthCheck, Phase, given, seed, settings  # noqa: E402  (after the path is set)
from hypothesis import strategies as st  # noqa: E402  (after the path is set)
from tests.fuzz import fake_mattermost, world  # noqa: E402  (after the path is set)
from tests.fuzz.oracle import describe, problems, refused  # noqa: E402  (after the path is set)
from tests.fuzz.probe import SqliteDataVersion  # noqa: E402  (after the path is set)
from tests.fuzz.routes import ROUTES  # noqa: E402  (after the path is set)
from tests.fuzz.send import HttpTransport, Sender  # noqa: E402  (after the path is set)

RECORD_START = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} [A-Z]+ \S+: "  # learnloop's own records
    r"|\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d [+-]\d{4}\] \[\d+\] \[[A-Z]+\] "  # gunicorn's
    r"|127\.0\.0\.1 \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}\] \"[A-Z]+ "  # the access log
    r"|learnloop serving on )")
TRACEBACK_LINE = re.compile(r"^(Traceback |  |\S+(Error|Exception|Exit|Interrupt)\b|During handling|The above)")


@dataclass
class Tally:
    cases: int = 0
    server_errors: int = 0
    refused: int = 0
    refused_and_wrote: int = 0
    wrote: int = 0
    forged_accepted: int = 0
    no_answer: int = 0
    harness_errors: int = 0
    seconds: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    def failed(self) -> bool:
        return bool(self.server_errors or self.refused_and_wrote or self.forged_accepted or self.no_answer
                    or self.harness_errors)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(folder: Path, mattermost_url: str) -> tuple[subprocess.Popen[bytes], int, Path]:
    port, log = free_port(), folder / "serve.log"
    config = folder / "learnloop.toml"
    config.write_text(world.config_toml())
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEARNLOOP_") and k != "XDG_RUNTIME_DIR"}
    env.update(world.serve_environment(database_url=f"sqlite:///{folder / 'fuzz.db'}", mattermost_url=mattermost_url,
                                       config_file=str(config)), HOME=str(folder), LEARNLOOP_HOST="127.0.0.1",
               PYTHONPATH=str(ROOT / "plugin"))
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "learnloop.cli", "serve", "--port", str(port)], env=env,
                                   cwd=folder, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("learnloop serve stopped:\n" + log.read_text(errors="replace"))
        try:
            if HttpTransport("127.0.0.1", port, timeout=2)("GET", "/healthz", [], b"").status == 200:
                return process, port, log
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit("learnloop serve did not answer /healthz within 90 s:\n" + log.read_text(errors="replace"))


def stop_server(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def fuzz_route(sender: Sender, route: str, mattermost_url: str, cases: int, chosen_seed: int) -> Tally:
    tally = Tally()

    @seed(chosen_seed)
    @settings(max_examples=cases, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def run(data: st.DataObject) -> None:
        case = data.draw(ROUTES[route](mattermost_url))
        tally.cases += 1
        try:
            sent = sender.send(case)
        except OSError as exc:
            tally.no_answer += 1
            tally.examples.setdefault("no answer", f"{case.method} {case.path[:120]!r} [{case.note}]: {exc!r}")
            return
        except AssertionError as exc:  # what the case needed first (a one-time link, a page) was not given
            tally.harness_errors += 1
            tally.examples.setdefault("harness error", f"{case.method} {case.path[:120]!r} [{case.note}]: {exc}")
            return
        tally.statuses[sent.reply.status] += 1
        tally.refused += refused(sent)
        tally.wrote += sent.wrote
        for problem in problems(sent):
            kind = ("5xx" if problem.startswith("answered") else "wrote" if problem.startswith("changed")
                    else "accepted")
            tally.server_errors += kind == "5xx"
            tally.refused_and_wrote += kind == "wrote"
            tally.forged_accepted += kind == "accepted"
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
    headers = ["route", "cases", "5xx", "refused", "refused+wrote", "forged accepted", "no answer", "wrote",
               "cases/s"]
    rows: list[list[object]] = [
        [route, t.cases, t.server_errors, t.refused, t.refused_and_wrote, t.forged_accepted, t.no_answer, t.wrote,
         f"{t.cases / t.seconds:.0f}" if t.seconds else "-"] for route, t in tallies.items()]
    rows.append(["total", *(sum(int(str(row[i])) for row in rows) for i in range(1, 8)), ""])
    widths = [max(len(str(row[i])) for row in [headers, *rows]) for i in range(len(headers))]
    lines = ["  ".join(str(cell).ljust(w) if i == 0 else str(cell).rjust(w) for i, (cell, w) in
                       enumerate(zip(row, widths, strict=True))) for row in [headers, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="cases per route (default 10,000)")
    parser.add_argument("--routes", nargs="+", choices=sorted(ROUTES), default=sorted(ROUTES))
    parser.add_argument("--seed", type=int, default=15, help="hypothesis seed (default 15)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (database and log)")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="learnloop-fuzz-"))
    fake, mattermost_url = fake_mattermost.serve_in_thread()
    process, port, log = start_server(folder, mattermost_url)
    served_from = log.stat().st_size  # what it logged while migrating and starting is not a request's doing
    probe = SqliteDataVersion(str(folder / "fuzz.db"))
    transport = HttpTransport("127.0.0.1", port)
    tallies: dict[str, Tally] = {}
    try:
        sender = Sender(transport, probe)
        for route in args.routes:
            tallies[route] = fuzz_route(sender, route, mattermost_url, args.cases, args.seed)
            print(f"{route}: {tallies[route].cases} cases in {tallies[route].seconds:.0f} s, statuses "
                  f"{dict(sorted(tallies[route].statuses.items()))}", flush=True)
    finally:
        transport.close()
        probe.close()
        stop_server(process)
        fake.shutdown()
    tracebacks, strays = read_log(log, served_from)
    print(f"\nlearnloop serve on SQLite, {args.cases} cases per route, seed {args.seed}\n")
    print(table(tallies))
    print("\n'wrote': requests that changed the database (every one of them accepted): the probe does see writes.")
    errors = sum(t.harness_errors for t in tallies.values())
    print(f"cases the script could not prepare (a one-time link or a page it needed first): {errors}")
    print(f"server log: {tracebacks} tracebacks, {len(strays)} lines that start no record")
    for line in strays[:10]:
        print(f"  stray line: {line[:200]!r}")
    for route, tally in tallies.items():
        for kind, example in tally.examples.items():
            print(f"\n{route}, first {kind}: {example}")
    print(f"\nfolder: {folder}" + ("" if args.keep else " (removed)"))
    if not args.keep:
        shutil.rmtree(folder)
    failed = any(t.failed() for t in tallies.values()) or tracebacks or strays
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python3
"""Instructions per rating, counted by valgrind's callgrind: the same count whatever else the machine is doing,
so a change to the rating path can be judged without a shared machine's noise (docs/performance.md).

    .venv/bin/python scripts/count_instructions.py                  # every part, about ten minutes
    .venv/bin/python scripts/count_instructions.py rating unit

Each part runs under callgrind in the measured learnloop (`--learnloop-python`): its warm-up alone, then the
warm-up and `--count` more; the difference per call is printed (docs/performance.md has the method).

  rating      `rate_url` on the inbound benchmark's workload, each rating in its own unit of work
  unit        a unit of work with one statement in it (the item's SELECT), committed
  connection  a Connection's transaction begun and committed with nothing in it
  statement   the item's SELECT in a unit of work, ten to a transaction (less `unit`, over the nine more)
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

import benchlib as b

PARTS = ("rating", "unit", "connection", "statement")
WARMUP = 300

CHILD = r'''
import gc, os, shutil, sys, tempfile
from datetime import datetime, timezone
sys.path.insert(0, sys.argv[1])
template, part, count, size = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
home = tempfile.mkdtemp()
os.environ.update(LEARNLOOP_HOME=home, LEARNLOOP_DATABASE_URL=f"sqlite:///{home}/learnloop.db",
                  LEARNLOOP_CONFIG_FILE=os.devnull)
from learnloop.bootstrap import build_runtime
from learnloop.config import load_settings
from learnloop.storage.migrate import upgrade
runtime = build_runtime(load_settings())
if part == "setup":
    upgrade(runtime.engine)
    runtime.engine.dispose()
    shutil.copy(f"{home}/learnloop.db", template)
    sys.exit()
shutil.copy(template, f"{home}/learnloop.db")
from bench_inbound import Workload
from learnloop.services.rating import Rater, rate_url
from learnloop.storage.repositories import ContentRepository
workload = Workload(1, size) if part == "rating" else None  # the same in both runs
now = datetime(2026, 12, 7, tzinfo=timezone.utc)

def rating(i):
    r = workload.ratings[i]
    channel, channel_name, team = workload.channels[r.user % len(workload.channels)]
    with runtime.uow() as uow:
        rate_url(uow, runtime.settings, Rater(workload.users[r.user][0], channel, team, channel_name),
                 workload.urls[r.url], r.stars, "Saved me an hour" if r.comment else None, now)

def unit(_):
    with runtime.uow() as uow:
        uow.items.rateable_by_url("https://wiki.acme.example/wiki/Nowhere")
        uow.commit()

def connection(_):
    with runtime.engine.begin():
        pass

def statement(_):
    with runtime.uow() as uow:
        for _ in range(10):
            uow.items.rateable_by_url("https://wiki.acme.example/wiki/Nowhere")
        uow.commit()

run = {"rating": rating, "unit": unit, "connection": connection, "statement": statement}[part]
gc.collect()
gc.freeze()
for i in range(WARMUP + count):
    run(i)
'''.replace("WARMUP", str(WARMUP))


def collected(target: b.Target, template: Path, part: str, count: int, size: int) -> int:
    """Instructions callgrind counted for the part's warm-up and `count` more (of a workload of `size`)."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", target.python, "-c", CHILD,
         str(Path(__file__).parent), str(template), part, str(count), str(size)],
        capture_output=True, text=True, check=False)
    found = re.search(r"Collected : (\d+)", done.stderr)
    if done.returncode != 0 or not found:
        raise RuntimeError(f"{part} under callgrind failed: {done.stderr[-2000:]}")
    return int(found.group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--learnloop-python", default=sys.executable,
                        help="interpreter whose learnloop is counted (default: this one)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("parts", nargs="*", metavar="part", help=f"any of {', '.join(PARTS)} (default: all)")
    parser.add_argument("--count", type=int, default=1000, help="calls counted per part, after the warm-up")
    args = parser.parse_args(argv)
    if unknown := set(args.parts) - set(PARTS):
        parser.error(f"no part named {', '.join(sorted(unknown))}; the parts are {', '.join(PARTS)}")
    parts = [part for part in PARTS if part in args.parts or not args.parts or
             (part == "unit" and "statement" in args.parts)]
    if shutil.which("valgrind") is None:
        b.log("valgrind is not installed (apt-get install valgrind)")
        return 2
    target = b.Target(args.learnloop_python)
    with b.workspace("count-instructions-", args.keep) as (workdir, _cleanups):
        template = workdir / "template.db"
        subprocess.run([target.python, "-c", CHILD, str(Path(__file__).parent), str(template), "setup", "0", "0"],
                       check=True)
        per_call = {}
        for part in parts:
            size = WARMUP + args.count
            extra = collected(target, template, part, args.count, size) - collected(target, template, part, 0, size)
            per_call[part] = extra / args.count
            b.log(f"{part}: {per_call[part]:,.0f} instructions per call")
    if "statement" in per_call:
        per_call["statement"] = (per_call["statement"] - per_call["unit"]) / 9
    print(f"\ninstructions per call at {target.revision()}, SQLite, {args.count} calls after {WARMUP}")
    print(b.table(["part", "instructions"], [[part, f"{value:,.0f}"] for part, value in per_call.items()]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

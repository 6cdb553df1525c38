"""`learnloop doctor`: every configured host, end to end, as a short table of what is fine and
what to fix."""

from __future__ import annotations

import os
import re
import stat
from datetime import datetime, timedelta
from types import ModuleType

import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from learnloop.bootstrap import SIGNING_SECRET_NAME
from learnloop.clock import utc_now
from learnloop.config import Settings, WikiConfig
from learnloop.inbound import escape_controls
from learnloop.install import bookstack, mattermost_doctor, mediawiki, outline
from learnloop.install.plan import Check, InstallContext
from learnloop.install.wiki_choice import DELIVERIES
from learnloop.jobs import HEARTBEAT, HEARTBEAT_SECONDS, POLL_RESTARTED, POLL_STATUS
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.storage import migrate
from learnloop.storage.engine import make_engine
from learnloop.storage.sqlite import DatabaseFolderUnusable, database_path
from learnloop.storage.tables import Cursor, OutboxMessage
from learnloop.storage.unit_of_work import UnitOfWork
from learnloop.wikis import FETCH_JOB, IDENTIFY, fetch_key

STALE_HEARTBEAT = timedelta(seconds=4 * HEARTBEAT_SECONDS)
STALE_POLL = timedelta(minutes=5)
RESTART_SHOWN = timedelta(days=7)
"""How long `learnloop doctor` tells that a wiki's poll restarted from an earlier position."""
RETRIED_OFTEN = 3


def run_doctor(context: InstallContext, admin: MattermostAdminClient | None) -> list[Check]:

    settings = context.settings
    database, engine = open_database(settings)
    checks = [service_check(settings), database, *database_file_check(settings)]
    checks += mattermost_doctor.doctor_checks(context, admin)
    try:
        checks += ([secret_key_check(engine, settings), *worker_checks(engine, settings)] if engine is not None
                   else unread_checks(settings))
        for wiki in settings.wikis:
            try:
                pages = {"pages": mediawiki.widget_pages(context.ledger, wiki)} if wiki.kind == "mediawiki" else {}
                delivered = last_delivery(engine, wiki) if engine is not None else None
                checks += [unread(check) if engine is None and check.check == DELIVERIES else check
                           for check in wiki_module(wiki.kind).doctor_checks(settings, wiki,
                                                                             last_delivery=delivered, **pages)]
            except Exception as exc:  # noqa: BLE001  (one broken wiki must not hide the others' rows)
                checks.append(Check(f"{wiki.kind} {wiki.name}", "checks", "fix", f"could not run: {exc}"))
    finally:
        if engine is not None:
            engine.dispose()
    return checks


def database_problem(exc: DBAPIError) -> str:
    reason = escape_controls(str(exc.orig).strip().splitlines()[0][:200])
    if re.search(r"no such (table|column)|(relation|column) \S+ does not exist", reason):
        return f"the database is not at this learnloop's schema ({reason}): run `learnloop db upgrade` first"
    return f"cannot use the database ({reason}): check LEARNLOOP_DATABASE_URL and that the database is running"


def _sqlite_file(settings: Settings) -> str | None:
    url = make_url(settings.database_url)
    return database_path(url) if url.get_backend_name() == "sqlite" else None


def missing_database(settings: Settings, command: str) -> str | None:
    """Why `command` may not use the database: a SQLite file that is not there. Commands that read the database
    never create it: run from another folder, they would make an empty one."""
    path = _sqlite_file(settings)
    if path is not None and not os.path.exists(path):
        return (f"{path} does not exist: run {command} in the folder `learnloop serve` runs in, or set "
                "LEARNLOOP_DATABASE_URL to its database")
    return None


def open_database(settings: Settings) -> tuple[Check, Engine | None]:
    """The "database" row, and an engine on the database when it answers at this learnloop's schema."""
    missing = missing_database(settings, "doctor")
    if missing is not None:
        return Check("learnloop", "database", "fix", missing), None
    engine = None
    try:
        engine = make_engine(settings.database_url)
        at = migrate.current(engine)
    except DatabaseFolderUnusable as exc:
        problem = str(exc)
    except DBAPIError as exc:
        problem = database_problem(exc)
    else:
        head = migrate.head()
        if at == head:
            where = _sqlite_file(settings) or make_url(settings.database_url).render_as_string()
            return Check("learnloop", "database", "ok", f"{where} at revision {head}"), engine
        problem = ("no tables yet: run `learnloop db upgrade` (serve and worker do it on start)" if at is None
                   else f"at revision {at}, not this learnloop's {head}: run `learnloop db upgrade`"
                   if at in migrate.revisions() else
                   f"at revision {at[:40]}, which this learnloop does not know: a newer learnloop upgraded it")
    if engine is not None:
        engine.dispose()
    return Check("learnloop", "database", "fix", problem), None


def unread(check: Check) -> Check:
    return Check(check.host, check.check, "skip", "not checked: the database is not usable (see its row)")


def unread_checks(settings: Settings) -> list[Check]:
    """The rows `worker_checks` gives, each saying it could not be checked."""
    rows = [Check("learnloop", "secret key", "fix"), Check("learnloop", "worker", "fix"),
            Check("learnloop", "messages", "fix")]
    rows += [Check(f"mediawiki {wiki.name}", "polling", "fix") for wiki in settings.wikis if wiki.kind == "mediawiki"]
    return [unread(row) for row in rows]


def wiki_module(kind: str) -> ModuleType:

    return {"mediawiki": mediawiki, "outline": outline, "bookstack": bookstack}[kind]


def service_check(settings: Settings) -> Check:
    """Is learnloop itself answering at LEARNLOOP_PUBLIC_URL (as seen from this machine)?"""
    url = settings.public_url_text + "/healthz"
    try:
        response = requests.get(url, timeout=5)
    except requests.RequestException as exc:
        return Check("learnloop", "serving", "fix", f"{url}: no answer ({type(exc).__name__}); start it with "
                     "`learnloop serve`, or fix LEARNLOOP_PUBLIC_URL")
    if response.status_code != 200:
        return Check("learnloop", "serving", "fix", f"{url} answered HTTP {response.status_code}")
    return Check("learnloop", "serving", "ok", settings.public_url_text)


def _cursor(engine: Engine, name: str) -> tuple[str, datetime] | None:
    with engine.connect() as connection:
        row = connection.execute(select(Cursor.position, Cursor.updated_at).where(Cursor.name == name)).first()
    return (row.position, row.updated_at) if row else None


def database_file_check(settings: Settings) -> list[Check]:
    """The SQLite file, which holds the key that opens every reflection, readable by its owner only (learnloop
    creates it so; one made by an older learnloop or copied in may not be)."""
    path = _sqlite_file(settings)
    if path is None or not os.path.exists(path):
        return []
    mode = stat.S_IMODE(os.stat(path).st_mode)
    if mode & 0o077:
        return [Check("learnloop", "database file", "fix", f"{path} is readable by others ({mode:o}); it holds the "
                      f"key to every reflection: chmod 600 {path} (and its -wal and -shm files)")]
    return [Check("learnloop", "database file", "ok", f"{path}, readable by its owner only")]


def secret_key_check(engine: Engine, settings: Settings) -> Check:
    """Where the key that seals private reflections is kept: a generated one is in the database, so the database
    or any backup of it opens them."""
    with UnitOfWork(engine) as uow:
        generated = uow.secrets.get(SIGNING_SECRET_NAME)
    if generated:
        return Check("learnloop", "secret key", "warn", "generated and kept in the database: anyone with the database "
                     "or a backup of it can open private reflections; keep backups as private as the database (the "
                     "key cannot change now: serve and worker refuse another one)")
    if settings.secret_key is None:
        return Check("learnloop", "secret key", "warn", "LEARNLOOP_SECRET_KEY is not set: the first start will "
                     "generate a key and keep it in the database, where any backup can open private reflections; set "
                     "it (kept outside the database) before then")
    return Check("learnloop", "secret key", "ok", "LEARNLOOP_SECRET_KEY, kept outside the database")


def worker_checks(engine: Engine, settings: Settings, now: datetime | None = None) -> list[Check]:
    """Is a worker running (its last heartbeat), and did each polled wiki's last poll work?"""
    now = now or utc_now()
    beat = _cursor(engine, HEARTBEAT)
    if beat is None:
        checks = [Check("learnloop", "worker", "fix", "no worker has run: start `learnloop worker` beside "
                        "`learnloop serve`; without it nothing is sent, polled or counted")]
    elif now - beat[1] > STALE_HEARTBEAT:
        checks = [Check("learnloop", "worker", "fix", f"the last worker heartbeat was {_ago(now - beat[1])} ago; "
                        "is `learnloop worker` still running?")]
    else:
        checks = [Check("learnloop", "worker", "ok", f"running (heartbeat {_ago(now - beat[1])} ago)")]
    checks.append(outbox_check(engine, now))
    for wiki in settings.wikis:
        if wiki.kind != "mediawiki":
            continue
        polled = _cursor(engine, POLL_STATUS + wiki.name)
        if polled is None:
            checks.append(Check(f"mediawiki {wiki.name}", "polling", "fix", "never polled: is a worker running?"))
        elif polled[0] != "ok":
            checks.append(Check(f"mediawiki {wiki.name}", "polling", "fix", f"the last poll failed: {polled[0]}"))
        elif now - polled[1] > STALE_POLL:
            checks.append(Check(f"mediawiki {wiki.name}", "polling", "fix",
                                f"last polled {_ago(now - polled[1])} ago"))
        else:
            checks.append(Check(f"mediawiki {wiki.name}", "polling", "ok", f"polled {_ago(now - polled[1])} ago"))
        restarted = _cursor(engine, POLL_RESTARTED + wiki.name)
        if restarted is not None and now - restarted[1] <= RESTART_SHOWN:
            checks.append(Check(f"mediawiki {wiki.name}", "poll restarted", "ok", (
                f"{_ago(now - restarted[1])} ago, {restarted[0]} Learnloop read on from the changes made since; "
                "changes the restore undid stay counted as learnloop read them")))
    return checks


def outbox_check(engine: Engine, now: datetime) -> Check:
    """Did messages fail for good in the last day, or are some being tried again and again (a host refuses
    them)? The newest error says why."""
    with engine.connect() as connection:
        failed = connection.execute(
            select(func.count(), func.max(OutboxMessage.last_error)).where(
                OutboxMessage.status == "failed", OutboxMessage.next_attempt_at >= now - timedelta(days=1))).one()
        retried = connection.execute(
            select(func.count(), func.max(OutboxMessage.last_error)).where(
                OutboxMessage.status == "pending", OutboxMessage.attempts >= RETRIED_OFTEN)).one()
    if failed[0]:
        return Check("learnloop", "messages", "fix", f"{failed[0]} failed for good in the last day, e.g. {failed[1]}")
    if retried[0]:
        return Check("learnloop", "messages", "fix", f"{retried[0]} tried {RETRIED_OFTEN} times or more and still "
                     f"waiting, e.g. {retried[1]}")
    return Check("learnloop", "messages", "ok", "none failed in the last day")


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    return f"{seconds} s" if seconds < 120 else f"{seconds // 60} min" if seconds < 7200 else f"{seconds // 3600} h"


def last_delivery(engine: Engine, wiki: WikiConfig) -> datetime | None:
    """When this service last queued a delivery from the wiki (None: never). The fetch jobs the worker queues to
    ask the wiki which page an item is are not deliveries: their event ids start with `identify:`, which no
    delivery's does (Outline's have no colon, BookStack's start with its event, MediaWiki's with `push:`)."""
    with engine.connect() as connection:
        return connection.scalar(
            select(func.max(OutboxMessage.created_at))
            .where(OutboxMessage.kind == FETCH_JOB)
            .where(OutboxMessage.idempotency_key.startswith(fetch_key(wiki.name, ""), autoescape=True))
            .where(~OutboxMessage.idempotency_key.startswith(fetch_key(wiki.name, f"{IDENTIFY}:"), autoescape=True)))

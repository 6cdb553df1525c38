"""`learnloop doctor`: every configured host, end to end, as a short table of what is fine and
what to fix."""

from __future__ import annotations

from datetime import datetime
from types import ModuleType

import requests
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from learnloop.config import Settings, WikiConfig
from learnloop.install.plan import Check, InstallContext
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.storage.engine import make_engine
from learnloop.storage.tables import OutboxMessage
from learnloop.wikis import FETCH_JOB


def run_doctor(context: InstallContext, admin: MattermostAdminClient | None) -> list[Check]:
    from learnloop.install import mattermost_doctor

    settings = context.settings
    checks = [service_check(settings)]
    checks += mattermost_doctor.doctor_checks(context, admin)
    if not settings.wikis:
        return checks
    engine = make_engine(settings.database_url)
    try:
        for wiki in settings.wikis:
            try:
                checks += wiki_module(wiki.kind).doctor_checks(settings, wiki,
                                                               last_delivery=last_delivery(engine, wiki))
            except Exception as exc:  # noqa: BLE001  (one broken wiki must not hide the others' rows)
                checks.append(Check(f"{wiki.kind} {wiki.name}", "checks", "fix", f"could not run: {exc}"))
    finally:
        engine.dispose()
    return checks


def wiki_module(kind: str) -> ModuleType:
    from learnloop.install import bookstack, mediawiki, outline

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


def last_delivery(engine: Engine, wiki: WikiConfig) -> datetime | None:
    """When this service last queued a delivery from the wiki (None: never, or no database yet)."""
    try:
        with engine.connect() as connection:
            return connection.scalar(
                select(func.max(OutboxMessage.created_at))
                .where(OutboxMessage.kind == FETCH_JOB)
                .where(OutboxMessage.idempotency_key.startswith(f"wiki:{wiki.name}:", autoescape=True)))
    except SQLAlchemyError:  # no database yet: nothing was received
        return None

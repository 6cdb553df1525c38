"""The `learnloop` command: serve, worker, db upgrade, export, install, uninstall, doctor."""

from __future__ import annotations

import errno
import json
import logging
import re
import socket
import sys
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource
from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError

from learnloop.bootstrap import build_runtime
from learnloop.clock import utc_now
from learnloop.config import ConfigError, Settings, load_settings, url_problem
from learnloop.files import WriteFailed, cannot_write, write_atomically
from learnloop.inbound import escape_controls
from learnloop.install.config_file import ConfigFile
from learnloop.install.doctor import database_problem, missing_database, run_doctor, wiki_module
from learnloop.install.ledger import Ledger, ledger_path_for
from learnloop.install.manifest import ManifestError, MattermostManifest, load_manifest
from learnloop.install.mattermost import MattermostInstaller
from learnloop.install.plan import InstallBlocked, InstallContext, InstallFailed, Plan, render_checks
from learnloop.jobs.worker import Worker
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.mattermost.people import username_of
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import personal_data
from learnloop.storage.engine import make_engine
from learnloop.storage.export import export_to_file, jsonable
from learnloop.storage.migrate import UnknownRevision, upgrade
from learnloop.storage.sqlite import DatabaseFolderUnusable, database_path
from learnloop.wiring import create_app

ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
"""Path without the query string: BookStack's webhook URL carries its secret as ?secret=..."""


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


class AccessLogger(Logger):
    """gunicorn's logger, writing the request's path with control characters escaped: PATH_INFO is
    percent-decoded, so a request for /x%0Ay would otherwise write a line of its own to the log."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms["U"] = escape_controls(str(atoms.get("U") or ""))
        return atoms


def _logging() -> None:
    """What learnloop did, at INFO; APScheduler's chatter (a line per job run) and Alembic's (a line per
    migration step) only at WARNING: storage.migrate says in one line what an upgrade did."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for chatty in ("apscheduler", "alembic"):
        logging.getLogger(chatty).setLevel(logging.WARNING)


class _Commands(click.Group):
    """learnloop's commands; a database that cannot be opened or read ends any of them with one clear line."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (IntegrityError, DataError):  # the data, not the database: a defect, with its traceback
            raise
        except DBAPIError as exc:
            raise click.ClickException(database_problem(exc)) from None
        except (ConfigError, UnknownRevision, DatabaseFolderUnusable) as exc:  # found once the database is open: a
            raise click.ClickException(str(exc)) from None  # secret key it was not written with, a newer schema, a
            # folder learnloop cannot create its file or locks in


@click.group(cls=_Commands)
def main() -> None:
    """learnloop: ratings, reflection prompts and community dashboards inside Mattermost and your wikis."""


def _shared_database(settings: Settings) -> Settings:
    """The web processes and the worker share one database: an in-memory SQLite one would be one per process."""
    url = make_url(settings.database_url)
    if url.get_backend_name() == "sqlite" and database_path(url) is None:
        raise click.ClickException(f"LEARNLOOP_DATABASE_URL {settings.database_url!r} is an in-memory SQLite "
                                   "database, one per process: give a file, for example sqlite:///learnloop.db")
    return settings


def _existing_database(command: str) -> Settings:
    settings = _settings()
    missing = missing_database(settings, command)
    if missing is not None:
        raise click.ClickException(missing)
    return settings


def listen_address(host: str, port: int) -> str:
    """gunicorn's bind, `host:port`, with an IPv6 address in brackets (`[::1]:8080`)."""
    return f"[{host}]:{port}" if ":" in host and not host.startswith("[") else f"{host}:{port}"


def check_free(host: str, port: int) -> None:
    """Refuse, before anything is migrated, an address gunicorn could not listen on (it retries, then gives up,
    saying nothing an admin can act on)."""
    host = host.strip("[]")
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn does
            probe.bind((host, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise click.ClickException(f"port {port} on {host} is in use: choose another with --port or "
                                       "LEARNLOOP_PORT") from None
        raise click.ClickException(f"cannot listen on port {port} of {host} ({exc.strerror or exc}): choose "
                                   "another address with --host or LEARNLOOP_HOST, or a port with --port or "
                                   "LEARNLOOP_PORT") from None


@main.command()
@click.option("--host", default=None, help="Address to listen on (default: LEARNLOOP_HOST, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), default=None,
              help="Port to listen on (default: LEARNLOOP_PORT, 8080).")
def serve(host: str | None, port: int | None) -> None:
    """Migrate the database, then serve the web app with gunicorn."""
    _logging()
    settings = _shared_database(_settings())
    bind = listen_address(host or settings.host, port or settings.port)
    check_free(host or settings.host, port or settings.port)
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    runtime.check_signing_key()  # and a generated key is created once here, before workers race for it
    runtime.engine.dispose()

    class Server(BaseApplication):
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": bind, "workers": settings.web_workers, "worker_class": "gthread",
                "threads": settings.threads_per_web_worker, "timeout": 30,
                "accesslog": "-" if settings.access_log else None,
                "access_log_format": ACCESS_LOG_FORMAT, "logger_class": AccessLogger,
                "forwarded_allow_ips": "127.0.0.1",
                # the most gunicorn takes: the rating page's address carries a URL of up to 2,048 characters,
                # percent-encoded (up to three times as long); the default, 4,094, refuses some
                "limit_request_line": 8190,
                "control_socket_disable": True,
            }
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(build_runtime(settings))

    click.echo(f"learnloop serving on http://{bind} ({settings.database_url.split('://')[0]})", err=True)
    Server().run()


@main.command()
@click.option("--once", is_flag=True, help="Run every due job once and exit.")
def worker(once: bool) -> None:
    """Run background jobs: outbox delivery, prompts, wiki polls, the dashboards' fold, the network's pass (digests,
    suggestions, recognition) and retention."""

    _logging()
    runtime = build_runtime(_shared_database(_settings()))
    upgrade(runtime.engine)
    runtime.check_signing_key()
    worker = Worker(runtime)
    if once:
        report = worker.run_once()
        click.echo(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")
        return
    worker.run_forever()


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""

    settings = _settings()
    at = upgrade(make_engine(settings.database_url), revision)
    click.echo(f"database at {at or 'no revision (empty)'}", err=True)


@main.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write the JSON export to.")
def export(out: Path) -> None:
    """Write every stored record to a JSON file (secrets redacted)."""

    engine = make_engine(_existing_database("export").database_url)
    try:
        counts = export_to_file(engine, out, now=utc_now())
    except OSError as exc:
        raise click.ClickException(cannot_write(out, exc)) from None
    click.echo(f"exported {sum(counts.values())} records to {out}", err=True)


def _user_id(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    """A Mattermost user id, or a clear refusal: the erase finds what names a person by their id."""
    if not re.fullmatch(r"[a-z0-9]{26}", value):
        raise click.BadParameter(f"{escape_controls(value[:40])!r} is not a Mattermost user id (26 lower-case "
                                 "letters and digits, as System Console > Users shows it); a username goes in "
                                 "--username")
    return value


@main.group()
def person() -> None:
    """One person's data, for the admin: take it away, or erase it (what `/learn mydata` does in chat)."""


@person.command("export")
@click.argument("user_id", callback=_user_id)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write the person's data to (JSON).")
def person_export(user_id: str, out: Path) -> None:
    """Write everything stored about USER_ID (their Mattermost user id), reflections in clear, to --out."""


    runtime = build_runtime(_existing_database("person export"))
    runtime.check_signing_key()  # reflections are opened, and people's hashes found, with it
    username = username_of(runtime, user_id)
    with runtime.reader() as uow:
        data = personal_data.export(uow, user_id, username, runtime.signing_key, runtime.clock())
    try:
        write_atomically(out, lambda handle: handle.write(
            json.dumps(data, indent=2, ensure_ascii=False, default=jsonable) + "\n"))
    except OSError as exc:
        raise click.ClickException(cannot_write(out, exc)) from None
    click.echo(f"wrote {user_id}'s data to {out} (it holds their reflections in clear: hand it to them only)",
               err=True)


@person.command("erase")
@click.argument("user_id", callback=_user_id)
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--username", help="Their Mattermost username, when neither learnloop nor Mattermost knows it any more "
                                 "(a deleted account): the @name taken out of wiki page announcements, notes others "
                                 "left the owners and messages quoting them.")
def person_erase(user_id: str, yes: bool, username: str | None) -> None:
    """Erase everything that names USER_ID: ratings (a page's score lets go of them when it next moves),
    comments, reflections, settings, events."""

    runtime = build_runtime(_existing_database("person erase"))
    runtime.check_signing_key()
    if not yes:
        click.confirm(f"Erase everything learnloop stores about {user_id}? This cannot be undone", abort=True)
    username = username or username_of(runtime, user_id)
    if username is None:
        click.echo(f"neither learnloop nor Mattermost knows {user_id}'s username: wiki page announcements naming "
                   "them as a changer, and notes and messages mentioning @them, stay as they are (run again with "
                   "--username NAME to take it out)",
                   err=True)
    with runtime.uow() as uow:
        erased = personal_data.erase(uow, user_id, username, runtime.clock(), runtime.signing_key,
                                     announcer(runtime))
    if erased.nothing:
        click.echo(f"nothing is stored about {user_id}; nothing was erased")
        return
    click.echo("erased: " + ", ".join(f"{count} {name}" for name, count in erased.counts.items() if count))
    for section in erased.wiki_sections:
        click.echo(f"a reflection they published is still on “{section.title}” ({section.url}) in the wiki "
                   f"{section.wiki}, in the section marked {section.marker}")
    for page in sorted(set(erased.wiki_pages) - {section.url for section in erased.wiki_sections}):
        click.echo(f"a reflection they published is still on {page}")


TOKEN_ENV = "LEARNLOOP_INSTALL_TOKEN"
_token_option = click.option(
    "--token", envvar=TOKEN_ENV, default=None,
    help=f"Admin token: a Mattermost system admin's personal access token (or set {TOKEN_ENV}, which is for "
         "Mattermost only), or an Outline admin API key given here.")
_mattermost_token_option = click.option(
    "--token", envvar=TOKEN_ENV, default=None,
    help=f"A Mattermost system admin's personal access token (or set {TOKEN_ENV}), to check the slash commands "
         "and outgoing webhooks install made (skipped without it).")
_dry_run_option = click.option("--dry-run", is_flag=True, help="Print the plan; touch nothing.")
_wiki_option = click.option("--wiki", "wiki_name", default=None, help="The [[wikis]] entry (wiki manifests).")
_url_option = click.option("--url", default=None, help="Mattermost's address (default: LEARNLOOP_MATTERMOST_URL).")


def _install_context(dry_run: bool, show_secrets: bool = False) -> Any:

    settings = _settings()
    path = Path(settings.config_file)
    try:
        return InstallContext(settings, Ledger(ledger_path_for(path)), ConfigFile(path), dry_run, show_secrets)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _admin_client(url: str | None, token: str | None, settings: Settings) -> Any:

    base = url or settings.mattermost_url_text
    if not base:
        raise click.UsageError("pass --url https://chat.example.com (or set LEARNLOOP_MATTERMOST_URL)")
    if not base.startswith(("http://", "https://")):
        raise click.UsageError(f"--url must start with http:// or https:// (got '{base}')")
    if url is not None and (problem := url_problem(url)) is not None:
        raise click.UsageError(f"--url: not an address such as https://chat.example.com ({problem})")
    if not token:
        raise click.UsageError(f"pass --token <a system admin's personal access token> (or set {TOKEN_ENV})")
    return MattermostAdminClient(base, token, timeout=settings.mattermost_timeout_seconds)


def _installer(manifest_path: Path, dry_run: bool, url: str | None, token: str | None, teams: tuple[str, ...],
               channels: tuple[str, ...], wiki_name: str | None, show_secrets: bool = False) -> tuple[Any, Any]:
    """The manifest is read and validated before anything else happens."""

    try:
        manifest = load_manifest(manifest_path)
    except ManifestError as exc:
        raise click.ClickException(f"the manifest is invalid, nothing was touched:\n{exc}") from None
    context = _install_context(dry_run, show_secrets)
    if isinstance(manifest, MattermostManifest):
        if wiki_name:
            raise click.UsageError("--wiki is for wiki manifests, not mattermost.yaml")
        return MattermostInstaller(manifest, context, _admin_client(url, token, context.settings),
                                   teams=teams, channels=channels), context
    if teams or channels or url:
        raise click.UsageError("--url, --team and --channel are for mattermost.yaml; a wiki's URL is in its "
                               "[[wikis]] entry")
    if click.get_current_context().get_parameter_source("token") is ParameterSource.ENVIRONMENT:
        token = None  # LEARNLOOP_INSTALL_TOKEN is Mattermost's admin token: it is never sent to a wiki
    try:
        return wiki_module(manifest.host).installer_for(manifest, context, wiki_name=wiki_name, token=token), context
    except InstallBlocked as exc:
        raise click.ClickException(str(exc)) from None


def _run_plan(installer: Any, context: Any, action: str) -> None:
    """Each step is printed as it happens; the summary and the notes once the run is over."""

    plan = Plan(context.dry_run, echo=click.echo)
    if action == "uninstall":
        plan.unchanged = "nothing to remove: the install record lists nothing learnloop made that is still there"
    try:
        if not context.dry_run:
            context.check_writable()
        getattr(installer, action)(plan)
    except InstallBlocked as exc:
        raise click.ClickException(str(exc)) from None
    except WriteFailed as exc:
        raise click.ClickException(f"{action} stopped: {exc}; make it writable and run the same command again to "
                                   "finish") from None
    except InstallFailed as exc:
        raise click.ClickException(
            f"{action} stopped: {exc}\nWhat was done is recorded in {context.ledger.path}; fix the cause and run the "
            "same command again to finish.") from None
    click.echo(plan.summary())
    if context.config.written:
        click.echo(f"{context.config.path} changed: restart `learnloop serve` and `learnloop worker` so they "
                   "read it")


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@_url_option
@_token_option
@click.option("--team", "teams", multiple=True, help="A team to install the slash command in (repeatable).")
@click.option("--channel", "channels", multiple=True, help="team-name/channel-name to listen in (repeatable).")
@_wiki_option
@_dry_run_option
@click.option("--show-secrets", is_flag=True,
              help="Print in full the secrets to paste by hand (MediaWiki's push snippet, BookStack's webhook URL); "
                   "masked otherwise.")
def install(manifest: Path, url: str | None, token: str | None, teams: tuple[str, ...], channels: tuple[str, ...],
            wiki_name: str | None, dry_run: bool, show_secrets: bool) -> None:
    """Make a host tool ready for learnloop, as MANIFEST (manifests/<host>.yaml) says. Safe to repeat."""
    installer, context = _installer(manifest, dry_run, url, token, teams, channels, wiki_name, show_secrets)
    _run_plan(installer, context, "install")


@main.command()
@click.argument("manifest", type=click.Path(dir_okay=False, path_type=Path))
@_url_option
@_token_option
@_wiki_option
@_dry_run_option
def uninstall(manifest: Path, url: str | None, token: str | None, wiki_name: str | None, dry_run: bool) -> None:
    """Remove exactly what `learnloop install MANIFEST` created, nothing else."""
    installer, context = _installer(manifest, dry_run, url, token, (), (), wiki_name)
    _run_plan(installer, context, "uninstall")


@main.command()
@_url_option
@_mattermost_token_option
def doctor(url: str | None, token: str | None) -> None:
    """Check every configured host end to end; exits 1 when something needs fixing."""

    context = _install_context(dry_run=True)
    admin = _admin_client(url, token, context.settings) if token else None
    checks = run_doctor(context, admin)
    click.echo(render_checks(checks))
    if any(check.status == "fix" for check in checks):
        sys.exit(1)


if __name__ == "__main__":
    sys.exit(main())

"""The `learnloop` command: serve, worker, db upgrade, export."""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Any

import click

from learnloop.config import ConfigError, Settings, load_settings


ACCESS_LOG_FORMAT = '%(h)s %(t)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms'
"""Path without the query string: BookStack's webhook URL carries its secret as ?secret=..."""


def _settings() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@click.group()
def main() -> None:
    """learnloop: ratings, reflection prompts and community dashboards inside Mattermost and your wikis."""


@main.command()
def serve() -> None:
    """Migrate the database, then serve the web app with gunicorn on LEARNLOOP_HOST:LEARNLOOP_PORT."""
    from gunicorn.app.base import BaseApplication

    from learnloop.bootstrap import build_runtime
    from learnloop.storage.migrate import upgrade
    from learnloop.web.app import create_app

    _logging()
    settings = _settings()
    runtime = build_runtime(settings)
    upgrade(runtime.engine)
    runtime.signing_key  # noqa: B018  (created once here, before workers race for it)
    runtime.engine.dispose()

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            options: dict[str, Any] = {
                "bind": f"{settings.host}:{settings.port}", "workers": settings.web_workers,
                "worker_class": "gthread", "threads": settings.web_threads, "timeout": 30,
                "accesslog": "-" if settings.access_log else None,
                "access_log_format": ACCESS_LOG_FORMAT,
                "forwarded_allow_ips": "127.0.0.1",
            }
            for key, value in options.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return create_app(build_runtime(settings))

    click.echo(f"learnloop serving on http://{settings.host}:{settings.port} ({settings.database_url.split('://')[0]})", err=True)
    Server().run()


@main.command()
@click.option("--once", is_flag=True, help="Run every due job once and exit.")
def worker(once: bool) -> None:
    """Run background jobs: outbox delivery (and later: prompts, wiki pollers)."""
    from learnloop.bootstrap import build_runtime
    from learnloop.jobs.worker import run_forever, run_once

    _logging()
    runtime = build_runtime(_settings())
    if once:
        report = run_once(runtime)
        click.echo(f"sent {report.sent}, to retry {report.retried}, failed {report.failed}")
        return
    run_forever(runtime)


@main.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Apply migrations up to REVISION (default: the newest)."""
    from learnloop.storage.engine import make_engine
    from learnloop.storage.migrate import upgrade

    settings = _settings()
    upgrade(make_engine(settings.database_url), revision)
    click.echo(f"database at {revision}", err=True)


@main.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="File to write the JSON export to.")
def export(out: Path) -> None:
    """Write every stored record to a JSON file (secrets redacted)."""
    from learnloop.bootstrap import utc_now
    from learnloop.storage.engine import make_engine
    from learnloop.storage.export import export_to_file

    settings = _settings()
    try:
        counts = export_to_file(make_engine(settings.database_url), out, now=utc_now())
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None
    click.echo(f"exported {sum(counts.values())} records to {out}", err=True)


if __name__ == "__main__":
    sys.exit(main())

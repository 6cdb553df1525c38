"""The Flask application factory (gunicorn serves `learnloop.web.app:create_app()`)."""

from __future__ import annotations

from flask import Flask

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.wikis import load_hosts
from learnloop.mattermost.views import bp as mattermost_bp
from learnloop.web.errors import register_error_handlers
from learnloop.web import session
from learnloop.web.dashboard_views import bp as dashboards_bp
from learnloop.web.health import bp as health_bp
from learnloop.web.pages import bp as pages_bp
from learnloop.web.wiki_routes import bp as wiki_bp

MAX_BODY_BYTES = 1024 * 1024


def create_app(runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime()
    if runtime.settings.wikis:
        load_hosts()
    app = Flask(__name__)
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # replies keep the order they are written in (Flask 3 ignores JSON_SORT_KEYS)
    app.extensions["learnloop"] = runtime
    register_error_handlers(app)
    session.configure(app, runtime)
    app.register_blueprint(health_bp)
    app.register_blueprint(mattermost_bp)
    app.register_blueprint(wiki_bp)
    app.register_blueprint(pages_bp)
    app.register_blueprint(dashboards_bp)
    return app

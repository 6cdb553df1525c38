"""Where the web app is built: every route, slash subcommand, button, dialog and wiki host is registered
here, explicitly (the worker's jobs and outbox handlers are wired in jobs.worker).

gunicorn serves `create_app()`."""

from __future__ import annotations

from flask import Flask
from werkzeug.exceptions import ServiceUnavailable

from learnloop.bookstack.host import BookStackHost
from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.scores import people_to_move
from learnloop.mattermost import (
    community_views,
    journal_views,
    network_views,
    page_views,
    privacy_views,
    prompt_commands,
    rating_views,
    reflect_views,
    routes,
    seed_views,
    wiki_removal_views,
    wiki_views,
)
from learnloop.mattermost.commands import CommandRegistry
from learnloop.mattermost.oauth import MattermostOAuth
from learnloop.mattermost.ownership import MembershipUnknown, Role, community_role
from learnloop.mediawiki.host import MediaWikiHost
from learnloop.outline.host import OutlineHost
from learnloop.services.rating import no_reflection_score
from learnloop.web import dashboard_views, health, oauth, pages, session, widget, wiki_routes
from learnloop.web.errors import register_error_handlers
from learnloop.wikis import WikiHost

MAX_BODY_BYTES = 1024 * 1024


def commands() -> CommandRegistry:
    """`/learn` and everything its replies carry: subcommands, buttons and dialogs."""
    registry = CommandRegistry()
    for views in (rating_views, prompt_commands, reflect_views, journal_views, community_views, wiki_views,
                  network_views, page_views, privacy_views, seed_views, wiki_removal_views):
        views.register(registry)
    return registry


def next_steps(runtime: Runtime) -> dashboard_views.NextSteps:
    """The dashboard's next-step buttons, done by the chat layer as `/learn seed` does them."""
    return dashboard_views.NextSteps(
        label=seed_views.step_label,
        unavailable=lambda channel_id, action: seed_views.step_possible(runtime, channel_id, action),
        run=lambda community_id, action, user_id: seed_views.run_step(runtime, community_id, action, user_id))


def wiki_hosts() -> dict[str, WikiHost]:
    """One of each wiki host per process (each keeps its API clients)."""
    return {"mediawiki": MediaWikiHost(), "outline": OutlineHost(), "bookstack": BookStackHost()}


def create_app(runtime: Runtime | None = None) -> Flask:
    runtime = runtime or build_runtime()
    app = Flask("learnloop.web")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES, MAX_FORM_MEMORY_SIZE=MAX_BODY_BYTES)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # replies keep the order they are written in
    register_error_handlers(app)
    app.add_template_global(people_to_move)
    app.add_template_global(no_reflection_score)
    public_url = runtime.settings.public_url_text
    session.configure(app, runtime.signing_key, secure=public_url.startswith("https://"),
                      frame_cross_site=session.cross_site_cookies(public_url))
    app.register_blueprint(health.blueprint(runtime.engine))
    app.register_blueprint(routes.blueprint(runtime, commands()))
    app.register_blueprint(wiki_routes.blueprint(runtime, wiki_hosts()))
    app.register_blueprint(pages.blueprint(runtime))
    app.register_blueprint(widget.blueprint(
        runtime, lambda visitor, item_id: network_views.send_thanks(runtime, visitor.user_id, visitor.username,
                                                                     item_id)))
    app.register_blueprint(oauth.blueprint(runtime, lambda: MattermostOAuth(runtime.settings)))
    app.register_blueprint(dashboard_views.blueprint(runtime, dashboard_access(runtime), next_steps(runtime)))
    return app


def dashboard_access(runtime: Runtime) -> dashboard_views.Access:
    """Someone's role in a channel for the dashboard pages; a 503 that says so when Mattermost cannot answer."""

    def role(channel_id: str, user_id: str) -> Role | None:
        try:
            return community_role(runtime, channel_id, user_id)
        except MembershipUnknown as exc:
            raise ServiceUnavailable(description=str(exc).rstrip(".")) from exc

    return role

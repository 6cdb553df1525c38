"""A real MediaWiki with learnloop's widget installed, learnloop itself, and Mattermost's OAuth provider, all on
loopback: for the widget's browser test and its benchmark (scripts/bench_widget.py).

learnloop is served as http://localhost:<port> and the wiki as http://127.0.0.1:<port>: two sites, so the frame
is a cross-site frame as it is in production (a wiki on another domain), with the browser's third-party cookie
rules applied. Browsers count loopback names as secure contexts, so the frame's Secure cookie is kept. A page
shaped like BookStack's, on 127.0.0.2 (a third site), shows the widget as a second wiki.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from learnloop.bookstack.host import custom_head_snippet
from learnloop.bootstrap import Runtime, build_runtime
from learnloop.clock import Clock
from learnloop.config import WikiConfig
from learnloop.install.config_file import ConfigFile
from learnloop.install.ledger import Ledger
from learnloop.install.manifest import MediaWikiManifest, load_manifest
from learnloop.install.mediawiki import installer_for
from learnloop.install.plan import InstallContext, Plan
from learnloop.wiring import create_app
from tests.conftest import make_settings
from tests.contract.mattermost_oauth import OAuthProvider
from tests.wikis.mediawiki_server import MediaWikiServer
from tests.wikis.mediawiki_support import Editor, wiki_config

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "mediawiki.yaml"
PAGES = {"Onboarding": "How we onboard people. See [[VPN setup]].\n\n== First day ==\nLaptop, accounts, chat.",
         "VPN setup": "Install the client, then sign in with your chat account.",
         "Talk:Onboarding": "Should the first day mention the badge?"}


BOOKSTACK_PAGE = "/books/handbook/page/welcome"


@dataclass
class WidgetSite:
    wiki: MediaWikiServer
    editor: Editor
    provider: OAuthProvider
    runtime: Runtime
    learnloop_url: str
    reader_id: str
    bookstack_url: str
    """A page shaped like BookStack's page view, on a third site (127.0.0.2), loading the widget as BookStack's
    Custom HTML Head snippet does."""

    def page(self, title: str, query: str = "") -> str:
        return f"{self.wiki.url}/wiki/{title.replace(' ', '_')}" + (f"?{query}" if query else "")


def serve(app: Callable[..., Any], host: str = "127.0.0.1") -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server(host, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="standin", daemon=True)
    thread.start()
    return server, thread


def stop(server: BaseWSGIServer, thread: threading.Thread) -> None:
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def set_widget(site: WidgetSite, tmp: Path, *, enabled: bool) -> Plan:
    """`learnloop install manifests/mediawiki.yaml`, with the widget on or off, as an admin runs it."""
    loaded = load_manifest(MANIFEST)
    assert isinstance(loaded, MediaWikiManifest)
    manifest = loaded.model_copy(update={"widget": loaded.widget.model_copy(update={"enabled": enabled}),
                                         "print_push_snippet": False})
    context = InstallContext(site.runtime.settings, Ledger(tmp / "learnloop.install.json"),
                             ConfigFile(tmp / "learnloop.toml"))
    plan = Plan(dry_run=False)
    installer_for(manifest, context, wiki_name=None, token=None).install(plan)
    return plan


def bookstack_like(learnloop_url: str) -> Callable[..., Any]:
    """BookStack's page view as far as the loader looks: the path /books/<book>/page/<page>, `.page-content`,
    and the Custom HTML Head snippet in <head> (bookstack/host.py `custom_head_snippet`)."""
    @Request.application  # type: ignore[arg-type]
    def app(request: Request) -> Response:
        snippet = custom_head_snippet(f"{learnloop_url}/widget.js", WikiConfig(
            name="kb", kind="bookstack", url="http://127.0.0.2", secret="s" * 24, api_token="id:secret"))
        body = ("<!doctype html><html lang=en><head><meta charset=utf-8><title>Welcome | BookStack</title>"
                f"{snippet}</head><body><main><div class=page-content><h1>Welcome</h1>"
                "<p>Where things are.</p></div></main></body></html>")
        return Response(body, status=200 if request.path.startswith("/books/") else 404, mimetype="text/html")

    return app


@contextmanager
def widget_site(wiki: MediaWikiServer, engine: Engine, clock: Clock, tmp: Path, *, k: int = 3) -> Iterator[WidgetSite]:
    provider = OAuthProvider("")
    mattermost, mattermost_thread = serve(provider.http_app())
    provider.site_url = f"http://127.0.0.1:{mattermost.server_port}"
    reader = provider.add_user("ann")
    provider.logged_in = str(reader["id"])
    learnloop, learnloop_thread = serve(lambda environ, start: [])
    base = f"http://localhost:{learnloop.server_port}"
    bookstack, bookstack_thread = serve(bookstack_like(base), host="127.0.0.2")
    bookstack_url = f"http://127.0.0.2:{bookstack.server_port}"
    app = provider.add_app(f"{base}/oauth/callback")
    books = {"name": "kb", "kind": "bookstack", "url": bookstack_url, "secret": "s" * 24, "api_token": "id:secret"}
    settings = make_settings(public_url=base, wikis=[wiki_config(wiki), books], min_group_size=k,
                             mattermost_bot_token=None,
                             mattermost_url=provider.site_url, mattermost_oauth_client_id=app.id,
                             mattermost_oauth_client_secret=app.client_secret)
    runtime = build_runtime(settings, clock=clock, engine=engine)
    learnloop.app = create_app(runtime)
    editor = Editor(wiki)
    for title, text in PAGES.items():
        editor.save(title, text, summary="seed")
    site = WidgetSite(wiki, editor, provider, runtime, base, str(reader["id"]), bookstack_url + BOOKSTACK_PAGE)
    set_widget(site, tmp, enabled=True)
    try:
        yield site
    finally:
        stop(learnloop, learnloop_thread)
        stop(bookstack, bookstack_thread)
        stop(mattermost, mattermost_thread)

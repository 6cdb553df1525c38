"""A real MediaWiki with learnloop's widget installed, learnloop itself, and Mattermost's OAuth provider, all on
loopback: for the widget's browser test and its benchmark (scripts/bench_widget.py).

learnloop is served as http://localhost:<port> and the wiki as http://127.0.0.1:<port>: two sites, so the frame
is a cross-site frame as it is in production (a wiki on another domain), with the browser's third-party cookie
rules applied. Browsers count both loopback names as secure contexts, so the frame's Secure cookie is kept.
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

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.clock import Clock
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


@dataclass
class WidgetSite:
    wiki: MediaWikiServer
    editor: Editor
    provider: OAuthProvider
    runtime: Runtime
    learnloop_url: str
    reader_id: str

    def page(self, title: str, query: str = "") -> str:
        return f"{self.wiki.url}/wiki/{title.replace(' ', '_')}" + (f"?{query}" if query else "")


def serve(app: Callable[..., Any]) -> tuple[BaseWSGIServer, threading.Thread]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
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


@contextmanager
def widget_site(wiki: MediaWikiServer, engine: Engine, clock: Clock, tmp: Path, *, k: int = 3) -> Iterator[WidgetSite]:
    provider = OAuthProvider("")
    mattermost, mattermost_thread = serve(provider.http_app())
    provider.site_url = f"http://127.0.0.1:{mattermost.server_port}"
    reader = provider.add_user("ann")
    provider.logged_in = str(reader["id"])
    learnloop, learnloop_thread = serve(lambda environ, start: [])
    base = f"http://localhost:{learnloop.server_port}"
    app = provider.add_app(f"{base}/oauth/callback")
    settings = make_settings(public_url=base, wikis=[wiki_config(wiki)], min_group_size=k, mattermost_bot_token=None,
                             mattermost_url=provider.site_url, mattermost_oauth_client_id=app.id,
                             mattermost_oauth_client_secret=app.client_secret)
    runtime = build_runtime(settings, clock=clock, engine=engine)
    learnloop.app = create_app(runtime)
    editor = Editor(wiki)
    for title, text in PAGES.items():
        editor.save(title, text, summary="seed")
    site = WidgetSite(wiki, editor, provider, runtime, base, str(reader["id"]))
    set_widget(site, tmp, enabled=True)
    try:
        yield site
    finally:
        stop(learnloop, learnloop_thread)
        stop(mattermost, mattermost_thread)

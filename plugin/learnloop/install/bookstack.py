"""Installing learnloop into BookStack: it has no API for webhooks or settings, so the installer
checks the API token, then prints what the admin pastes: the webhook URL (it carries the wiki's
secret, as BookStack cannot sign) with the events to tick, the Custom HTML Head snippet, and the
ALLOWED_IFRAME_SOURCES entry that lets BookStack's pages show the widget's frame.
`doctor` confirms both: the snippet in the HTML of `/login`, the webhook by its deliveries.
"""

from __future__ import annotations

from datetime import datetime
from html.parser import HTMLParser

from learnloop.bookstack.client import BookStackClient
from learnloop.bookstack.host import custom_head_snippet, webhook_url
from learnloop.config import Settings, WikiConfig, origin_of
from learnloop.install.config_file import shown
from learnloop.install.manifest import BookStackManifest
from learnloop.install.plan import Check, InstallBlocked, InstallContext, Plan
from learnloop.install.wiki_choice import (
    access_checks,
    access_problem,
    choose_wiki,
    delivery_check,
    host_key,
    widget_url,
)
from learnloop.wikis import WikiError

TOKEN_HELP = ("a BookStack admin gives the learnloop user a role with the \"Access system API\" permission, "
              "makes a token in that user's profile (Access & Security → API Tokens) and puts "
              "'<token id>:<token secret>' in api_token")
HEAD_SETTING = "Settings → Customization → Custom HTML Head Content"
DELIVERY_FIX = "save a page, or check the webhook URL in Settings → Webhooks"


class _Scripts(HTMLParser):
    """The attributes of every <script> in a page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.found.append({name: value or "" for name, value in attrs})


def widget_scripts(html: str, settings: Settings) -> list[dict[str, str]]:
    """The <script> tags of `html` that load learnloop's widget (BookStack adds a CSP nonce to them)."""
    parser = _Scripts()
    parser.feed(html)
    parser.close()
    return [attrs for attrs in parser.found if attrs.get("src") == widget_url(settings)]


class BookStackInstaller:
    def __init__(self, manifest: BookStackManifest, context: InstallContext, wiki: WikiConfig) -> None:
        self.manifest = manifest
        self.context = context
        self.wiki = wiki
        self.host_key = host_key(wiki)
        self.client = BookStackClient.for_wiki(wiki)

    def _check_token(self) -> None:
        try:
            self.client.check_token()
        except WikiError as exc:
            raise InstallBlocked(self.host_key, [access_problem(
                self.context.settings, self.wiki, exc, refused=f"BookStack refuses the api_token: {TOKEN_HELP}",
                forbidden=f"the api_token's user may not use the API: {TOKEN_HELP}")]) from None

    def install(self, plan: Plan) -> None:
        self._check_token()
        plan.say("keep", "API token", "accepted by the BookStack API")
        webhook = self.manifest.webhook
        plan.say("manual", f"webhook '{webhook.name}'",
                 "BookStack has no API for webhooks: create it in Settings → Webhooks as below")
        plan.note(self.webhook_note())
        if not self.manifest.widget.enabled:
            plan.say("leave", "rating widget", "widget.enabled is false in the manifest")
        elif self._widget_present():
            plan.say("keep", "rating widget", f"the Custom HTML Head loads {widget_url(self.context.settings)}")
            plan.note(self.frame_note())
        else:
            plan.say("manual", "rating widget", f"paste the snippet below into {HEAD_SETTING}")
            plan.note(self.head_note())

    def _widget_present(self) -> bool:
        try:
            status, html = self.client.login_page_html()
        except WikiError:
            return False
        return status == 200 and bool(widget_scripts(html, self.context.settings))

    def webhook_note(self) -> str:
        """The endpoint URL carries the wiki's secret: masked unless the admin asked for it (--show-secrets)."""
        webhook = self.manifest.webhook
        url = webhook_url(self.context.settings.public_url_text, self.wiki)
        note = (f"BookStack webhook for wiki '{self.wiki.name}' (Settings → Webhooks → Create Webhook):\n"
                f"  Name: {webhook.name}\n"
                f"  Events: tick {', '.join(webhook.events)} (not \"All\")\n"
                f"  Endpoint: {url}\n"
                "  Active: yes\n"
                "The endpoint URL contains this wiki's secret (BookStack cannot sign its webhooks, so the secret "
                "proves a delivery is the wiki's): paste it only there. If BookStack's ALLOWED_SSR_HOSTS is set, "
                f"it must allow {self.context.settings.public_url_text}.")
        return shown(note, self.wiki.secret_text, show=self.context.show_secrets)

    def head_note(self) -> str:
        snippet = custom_head_snippet(widget_url(self.context.settings), self.wiki)
        return (f"BookStack rating widget for wiki '{self.wiki.name}': add to {HEAD_SETTING} (it is shown on every "
                f"page but the settings):\n{snippet}{self.frame_note()}")

    def frame_note(self) -> str:
        """BookStack's Content-Security-Policy lets pages frame only the sources in ALLOWED_IFRAME_SOURCES."""
        origin = origin_of(self.context.settings.public_url_text)
        return (f"The widget is a frame from {origin}: in BookStack's .env, add it to ALLOWED_IFRAME_SOURCES (space "
                "separated; BookStack's default is \"https://*.draw.io https://*.youtube.com "
                f"https://*.youtube-nocookie.com https://*.vimeo.com\"), e.g. ALLOWED_IFRAME_SOURCES=\"... {origin}\", "
                "then restart BookStack.")

    def uninstall(self, plan: Plan) -> None:
        """learnloop created nothing in BookStack: the admin removes what they pasted."""
        plan.say("manual", f"webhook '{self.manifest.webhook.name}'",
                 "delete it in Settings → Webhooks (learnloop cannot: BookStack has no API for webhooks)")
        if self.manifest.widget.enabled:
            plan.say("manual", "rating widget", f"remove learnloop's <script> from {HEAD_SETTING}")


def installer_for(manifest: BookStackManifest, context: InstallContext, *, wiki_name: str | None,
                  token: str | None) -> BookStackInstaller:
    """`token` is not used: the API token of the [[wikis]] entry is checked."""
    wiki = choose_wiki(context.settings, "bookstack", wiki_name=wiki_name, manifest_wiki=manifest.wiki)
    return BookStackInstaller(manifest, context, wiki)


def doctor_checks(settings: Settings, wiki: WikiConfig, *, last_delivery: datetime | None) -> list[Check]:
    """Reachable, API token, the widget in the Custom HTML Head (read from /login), deliveries."""
    client = BookStackClient.for_wiki(wiki)
    error: WikiError | None = None
    try:
        client.check_token()
    except WikiError as exc:
        error = exc
    checks = access_checks(wiki, error, accepted="accepted", fix=TOKEN_HELP)
    if checks[0].status == "fix":
        return checks
    checks.append(_widget_check(settings, wiki, client))
    checks.append(delivery_check(wiki, last_delivery, fix=DELIVERY_FIX))
    return checks


def _widget_check(settings: Settings, wiki: WikiConfig, client: BookStackClient) -> Check:
    host, login = host_key(wiki), f"{wiki.base_url}/login"
    try:
        status, html = client.login_page_html()
    except WikiError as exc:
        return Check(host, "rating widget", "fix", f"cannot read {login}: {exc}")
    if status != 200:
        return Check(host, "rating widget", "skip",
                     f"{login} answered HTTP {status}; look for {widget_url(settings)} in any page's source")
    scripts = widget_scripts(html, settings)
    if not scripts:
        return Check(host, "rating widget", "fix", "not in the Custom HTML Head: paste the snippet that `learnloop "
                                                   f"install manifests/bookstack.yaml` prints into {HEAD_SETTING}")
    return Check(host, "rating widget", "ok", f"the Custom HTML Head loads {widget_url(settings)}")

"""Installing learnloop into a MediaWiki: it creates nothing it cannot.

A wiki admin makes the bot password (Special:BotPasswords); the installer verifies it and its rights,
writes the rating widget loader into `MediaWiki:Common.js` as one marked block (the rest of the page
is the admin's and stays as it is), and prints the optional LocalSettings.php snippet for signed push.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from learnloop.config import Settings, WikiConfig
from learnloop.install.config_file import shown
from learnloop.install.ledger import Ledger, Resource
from learnloop.install.manifest import MediaWikiManifest, MediaWikiWidget
from learnloop.install.plan import Check, InstallBlocked, InstallContext, Plan
from learnloop.install.wiki_choice import choose_wiki, host_key, widget_url
from learnloop.mediawiki.client import MediaWikiClient, PageText, api_url_for
from learnloop.mediawiki.host import localsettings_snippet
from learnloop.wikis import WikiError

BEGIN_MARKER = "/* learnloop rating widget: begin. Written by `learnloop install`; `learnloop uninstall` removes it. */"
END_MARKER = "/* learnloop rating widget: end */"
INSTALL_SUMMARY = "learnloop: rating widget loader (learnloop install)"
UNINSTALL_SUMMARY = "learnloop: remove the rating widget loader (learnloop uninstall)"
WIDGET_BLOCK = "widget_block"

GRANTS: dict[str, str] = {
    "read": "Basic rights",
    "edit": "Edit existing pages",
    "createpage": "Create, edit, and move pages",
    "editsitejs": "Edit sitewide and user CSS/JS",
    "editsitecss": "Edit sitewide and user CSS/JS",
    "editinterface": "Edit the MediaWiki namespace and sitewide/user JSON",
    "delete": "Delete pages, revisions, and log entries",
}
"""Which Special:BotPasswords grant (as the form labels it) gives each right."""
GROUPS: dict[str, str] = {"editsitejs": "interface-admin", "editsitecss": "interface-admin"}
"""Rights a grant cannot give unless the account itself is in this group."""
GRANT_LIST = "Basic rights, Edit existing pages, Create, edit, and move pages, Edit sitewide and user CSS/JS"


def widget_block(settings: Settings) -> str:
    """The loader: `mw.loader.load` of learnloop's widget script, once the page has loaded (a script added
    before the load event holds the event up until it has run). The widget needs no wiki name: it rates the
    page by the canonical URL it reads from `mw.config`."""
    load = f"mw.loader.load({json.dumps(widget_url(settings))});"
    return (f"{BEGIN_MARKER}\n(function () {{\n  function load() {{ {load} }}\n"
            "  if (document.readyState === 'complete') { load(); } else { window.addEventListener('load', load); }\n"
            f"}}());\n{END_MARKER}")


def find_block(text: str) -> tuple[int, int] | None:
    start = text.find(BEGIN_MARKER)
    if start < 0:
        return None
    end = text.find(END_MARKER, start)
    return None if end < 0 else (start, end + len(END_MARKER))


def with_block(text: str, block: str) -> str:
    """`text` with the block replaced in place, or appended after what the admin wrote."""
    found = find_block(text)
    if found is not None:
        return text[:found[0]] + block + text[found[1]:]
    kept = text.rstrip()
    return f"{kept}\n\n{block}\n" if kept else f"{block}\n"


def without_block(text: str) -> str:
    found = find_block(text)
    if found is None:
        return text
    before, after = text[:found[0]].rstrip(), text[found[1]:].strip()
    return "\n\n".join(part for part in (before, after) if part) + "\n"


def current_block(text: str) -> str | None:
    found = find_block(text)
    return None if found is None else text[found[0]:found[1]]


def missing_rights_problem(wiki: WikiConfig, missing: list[str]) -> str:
    described = []
    for right in missing:
        grant = GRANTS.get(right)
        text = f"{right} (grant \"{grant}\"" if grant else f"{right} (no grant known to learnloop"
        if right in GROUPS:
            text += f"; the account must also be in the {GROUPS[right]} group"
        described.append(text + ")")
    return (f"the bot password {wiki.bot_user} lacks the rights " + ", ".join(described)
            + ": a wiki admin edits it in Special:BotPasswords and ticks those grants")


class MediaWikiInstaller:
    def __init__(self, manifest: MediaWikiManifest, context: InstallContext, wiki: WikiConfig) -> None:
        self.manifest = manifest
        self.context = context
        self.wiki = wiki
        self.host_key = host_key(wiki)
        self._client: MediaWikiClient | None = None

    @property
    def client(self) -> MediaWikiClient:
        if self._client is None:
            self._client = MediaWikiClient.for_wiki(self.wiki)
        return self._client

    def _connect(self) -> str:
        """Reachable, bot password accepted, rights present; returns the bot's user name."""
        api = api_url_for(self.wiki)
        try:
            self.client.general()
        except WikiError as exc:
            raise InstallBlocked(self.host_key, [(
                f"cannot reach the MediaWiki API at {api}: {exc}; check `url` of [[wikis]] '{self.wiki.name}' "
                f"in {self.context.settings.config_file} (the script path where api.php lives)")]) from None
        try:
            user = self.client.login()
        except WikiError as exc:
            raise InstallBlocked(self.host_key, [(
                f"the bot password of [[wikis]] '{self.wiki.name}' is refused ({exc}). A wiki admin makes one in "
                f"Special:BotPasswords with the grants {GRANT_LIST}; put 'User@appid' in bot_user and the "
                "generated password in bot_password")]) from None
        try:
            rights = self.client.rights()
        except WikiError as exc:
            raise InstallBlocked(self.host_key, [f"cannot read the bot's rights: {exc}"]) from None
        missing = [right for right in self.manifest.required_rights if right not in rights]
        if missing:
            raise InstallBlocked(self.host_key, [missing_rights_problem(self.wiki, missing)])
        return user

    def install(self, plan: Plan) -> None:
        user = self._connect()
        plan.say("keep", f"bot password {self.wiki.bot_user}",
                 f"logs in as {user}, with the rights {', '.join(self.manifest.required_rights)}")
        widget = self.manifest.widget
        page = self._read(widget.page)
        if widget.enabled:
            self._install_widget(plan, page)
        else:
            self._disable_widget(plan, page)
        if self.manifest.print_push_snippet:
            plan.say("manual", "signed push from LocalSettings.php (optional)",
                     "paste the snippet below; without it learnloop polls for changes every minute")
            plan.note(self.push_note())
        if not plan.dry_run and self.context.ledger.resources(self.host_key):
            self.context.ledger.set_status(self.host_key, "complete")

    def _read(self, title: str) -> PageText:
        try:
            return self.client.page_text(title)
        except WikiError as exc:
            raise InstallBlocked(self.host_key, [f"cannot read {title}: {exc}"]) from None

    def _install_widget(self, plan: Plan, page: PageText) -> None:
        block = widget_block(self.context.settings)
        found = current_block(page.text)
        what = f"rating widget in {page.title}"
        recorded = self.context.ledger.find(self.host_key, WIDGET_BLOCK, page.title)
        if found == block:
            plan.say("keep", what, f"loads {widget_url(self.context.settings)}")
            if recorded is None and not plan.dry_run:
                self._record(page, created=self.context.ledger.made(self.host_key, WIDGET_BLOCK, page.title, block))
            return
        created = recorded.created if recorded is not None else found is None
        if found is not None:
            detail = f"the marked block now loads {widget_url(self.context.settings)}"
        elif page.exists:
            detail = f"append a marked block loading {widget_url(self.context.settings)}; the rest of the page stays"
        else:
            detail = f"create the page with a marked block loading {widget_url(self.context.settings)}"

        def edit() -> int:
            return self.client.replace_text(page, with_block(page.text, block), summary=INSTALL_SUMMARY)

        def write() -> None:
            if created:
                self.context.ledger.creating(self.host_key, WIDGET_BLOCK, page.title, block, edit)
            else:
                edit()
            self._record(page, created=created, page_created=not page.exists)

        plan.change("update" if page.exists else "create", what, detail, write)

    def _disable_widget(self, plan: Plan, page: PageText) -> None:
        recorded = self.context.ledger.find(self.host_key, WIDGET_BLOCK, page.title)
        if recorded is not None and recorded.created and find_block(page.text) is not None:
            self._remove_block(plan, page, recorded, "widget.enabled is false in the manifest")
        else:
            plan.say("leave", f"rating widget in {page.title}", "widget.enabled is false in the manifest")

    def _record(self, page: PageText, *, created: bool, page_created: bool = False) -> None:
        self.context.ledger.record(self.host_key, Resource(
            WIDGET_BLOCK, page.title, page.title, created, {"page_created": page_created}))

    def _remove_block(self, plan: Plan, page: PageText, recorded: Resource, why: str) -> None:
        def remove() -> None:
            self.client.replace_text(page, without_block(page.text), summary=UNINSTALL_SUMMARY)
            self.context.ledger.forget(self.host_key, recorded)

        plan.change("remove", f"rating widget in {page.title}", why, remove)

    def push_note(self) -> str:
        """The snippet carries the wiki's secret: masked unless the admin asked for it (--show-secrets)."""
        note = (f"Optional, for wiki '{self.wiki.name}': add this to LocalSettings.php so saved pages reach learnloop "
                "at once. It carries this wiki's secret (the `secret` of its [[wikis]] entry) because MediaWiki signs "
                "each push with it: paste it only into LocalSettings.php, never into a chat or a ticket."
                + localsettings_snippet(self.wiki, self.context.settings.public_url_text))
        return shown(note, self.wiki.secret_text, show=self.context.show_secrets)

    def uninstall(self, plan: Plan) -> None:
        blocks = [r for r in self.context.ledger.resources(self.host_key) if r.type == WIDGET_BLOCK]
        if not blocks:
            plan.say("leave", f"rating widget in {self.manifest.widget.page}",
                     "the install record holds none for this wiki")
        if any(recorded.created for recorded in blocks):
            self._connect()
        for recorded in blocks:
            if not recorded.created:
                plan.say("leave", f"rating widget in {recorded.id}",
                         "it was there before learnloop install ran; remove the marked block by hand if wanted")
                if not plan.dry_run:
                    self.context.ledger.forget(self.host_key, recorded)
                continue
            page = self._read(recorded.id)
            if find_block(page.text) is None:
                plan.say("leave", f"rating widget in {page.title}", "the marked block is already gone")
                if not plan.dry_run:
                    self.context.ledger.forget(self.host_key, recorded)
            else:
                self._remove_block(plan, page, recorded, "only the marked block; the rest of the page stays")
                if recorded.data.get("page_created") and not without_block(page.text).strip():
                    plan.say("leave", page.title, "learnloop install created it and it is empty now; a wiki admin "
                             "may delete it")
        plan.say("leave", f"bot password {self.wiki.bot_user}",
                 "a wiki admin made it; delete it in Special:BotPasswords if learnloop no longer needs it")
        if self.manifest.print_push_snippet:
            plan.say("manual", "LocalSettings.php", "if you pasted learnloop's push snippet, delete it")


def installer_for(manifest: MediaWikiManifest, context: InstallContext, *, wiki_name: str | None,
                  token: str | None) -> MediaWikiInstaller:
    """`token` is not used: a MediaWiki is reached with the bot password of its [[wikis]] entry."""
    wiki = choose_wiki(context.settings, "mediawiki", wiki_name=wiki_name, manifest_wiki=manifest.wiki)
    return MediaWikiInstaller(manifest, context, wiki)


def _default_rights() -> list[str]:
    factory = MediaWikiManifest.model_fields["required_rights"].default_factory
    return list(factory()) if factory is not None else []  # type: ignore[call-arg]


def widget_pages(ledger: Ledger, wiki: WikiConfig) -> list[str]:
    """The pages `learnloop install` wrote the widget into on this wiki (a manifest may name another than
    Common.js); the default page when the install record holds none."""
    return [r.id for r in ledger.resources(host_key(wiki)) if r.type == WIDGET_BLOCK] or [MediaWikiWidget().page]


def doctor_checks(settings: Settings, wiki: WikiConfig, *, last_delivery: datetime | None,
                  pages: Sequence[str] = (MediaWikiWidget().page,)) -> list[Check]:
    """Reachable, bot password, rights, the widget block in each of `pages` (`widget_pages`), and signed push
    (optional)."""
    client = MediaWikiClient.for_wiki(wiki)
    try:
        checks = _session_checks(settings, wiki, client, pages)
    finally:
        client.close()
    if last_delivery is None:
        checks.append(Check(host_key(wiki), "signed push", "skip",
                            "none received: optional, learnloop polls every minute; "
                            "`learnloop install manifests/mediawiki.yaml --dry-run --show-secrets` prints the snippet"))
    else:
        checks.append(Check(host_key(wiki), "signed push", "ok",
                            f"last push {last_delivery.isoformat(timespec='seconds')}"))
    return checks


def _session_checks(settings: Settings, wiki: WikiConfig, client: MediaWikiClient,
                    pages: Sequence[str]) -> list[Check]:
    host = host_key(wiki)
    try:
        general = client.general()
    except WikiError as exc:
        return [Check(host, "reachable", "fix", f"{exc}; check the wiki's url")]
    checks = [Check(host, "reachable", "ok", f"{general.get('generator', 'MediaWiki')} at {client.api_url}")]
    try:
        user = client.login()
    except WikiError as exc:
        return [*checks, Check(host, "bot password", "fix",
                               f"{exc}; make one in Special:BotPasswords with the grants {GRANT_LIST}")]
    checks.append(Check(host, "bot password", "ok", f"logs in as {user}"))
    required = _default_rights()
    try:
        rights = client.rights()
    except WikiError as exc:
        checks.append(Check(host, "rights", "fix", f"cannot read them: {exc}"))
    else:
        missing = [right for right in required if right not in rights]
        checks.append(Check(host, "rights", "fix", missing_rights_problem(wiki, missing)) if missing
                      else Check(host, "rights", "ok", ", ".join(required)))
    checks += [_widget_check(settings, wiki, client, page) for page in pages]
    return checks


def _widget_check(settings: Settings, wiki: WikiConfig, client: MediaWikiClient, title: str) -> Check:
    host = host_key(wiki)
    try:
        page = client.page_text(title)
    except WikiError as exc:
        return Check(host, "rating widget", "fix", f"cannot read {title}: {exc}")
    found = current_block(page.text)
    if found == widget_block(settings):
        return Check(host, "rating widget", "ok", f"{page.title} loads {widget_url(settings)}")
    if found is None:
        return Check(host, "rating widget", "fix",
                     f"not in {page.title}: run learnloop install manifests/mediawiki.yaml")
    return Check(host, "rating widget", "fix",
                 f"the block in {page.title} does not load {widget_url(settings)}: run learnloop install again")

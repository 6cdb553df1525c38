"""Installing learnloop into Outline: one webhook subscription, made with an admin API key.

`webhookSubscriptions.create` {name, url, events, secret} registers `<public url>/wiki/<name>/events`,
signed with the wiki's secret (generated and written to the configuration when it has none). A re-run finds it
by its id (install record) or its URL
(`webhookSubscriptions.list`) and updates it only when its events or secret differ or Outline
disabled it. Outline has no site-wide script injection and its API cannot place an embed, so the
installer prints the widget's frame address for the admin to embed in documents (or a link).
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlsplit

from learnloop.config import Settings, WikiConfig, origin_of
from learnloop.install.ledger import Resource
from learnloop.install.manifest import OutlineManifest, OutlineWebhook
from learnloop.install.plan import Check, InstallBlocked, InstallContext, Plan
from learnloop.install.reachability import internal_addresses
from learnloop.install.wiki_choice import (
    access_checks,
    access_problem,
    choose_wiki,
    delivery_check,
    events_url,
    host_key,
)
from learnloop.outline.client import JsonObject, OutlineClient, OutlineError

SUBSCRIPTION = "webhook_subscription"
ADMIN_KEY_HELP = ("an Outline admin creates an API key in Settings → API Keys and passes it with --token "
                  "(or puts it in api_token)")


def _differences(subscription: JsonObject, *, url: str, events: Sequence[str], secret: str) -> list[str]:
    """What keeps an existing subscription from being ours as the manifest says; empty when it is."""
    found = []
    if subscription.get("url") != url:
        found.append(f"its url is {subscription.get('url')}")
    if not subscription.get("enabled", True):
        found.append("Outline disabled it (after failed deliveries?)")
    if sorted(subscription.get("events") or []) != sorted(events):
        found.append(f"its events are {', '.join(subscription.get('events') or []) or 'none'}")
    if "secret" in subscription and subscription.get("secret") != secret:
        found.append("it signs with another secret")
    return found


def _pick(subscriptions: list[JsonObject], url: str, known_id: str | None) -> JsonObject | None:
    """Ours: the recorded one if it still exists, else one delivering to our URL (an enabled one first)."""
    by_id = next((s for s in subscriptions if known_id and s.get("id") == known_id), None)
    if by_id is not None:
        return by_id
    ours = sorted((s for s in subscriptions if s.get("url") == url), key=lambda s: not s.get("enabled", True))
    return ours[0] if ours else None


class OutlineInstaller:
    def __init__(self, manifest: OutlineManifest, context: InstallContext, wiki: WikiConfig, token: str) -> None:
        self.manifest = manifest
        self.context = context
        self.wiki = wiki
        self.host_key = host_key(wiki)
        self.client = OutlineClient(wiki.base_url, token)

    @property
    def url(self) -> str:
        return events_url(self.context.settings, self.wiki)

    def _subscriptions(self) -> list[JsonObject]:
        """The pre-checks (reachable, key valid, key is an admin's), answering the team's subscriptions."""
        try:
            self.client.auth_info()
            return self.client.webhook_subscriptions()
        except OutlineError as exc:
            raise InstallBlocked(self.host_key, [access_problem(
                self.context.settings, self.wiki, exc, refused=f"Outline refuses the API key: {ADMIN_KEY_HELP}",
                forbidden="the API key is not an admin's (or its scope leaves out webhookSubscriptions): "
                          + ADMIN_KEY_HELP)]) from None

    def install(self, plan: Plan) -> None:
        subscriptions = self._subscriptions()
        webhook = self.manifest.webhook
        events = list(webhook.events)
        secret = self._secret(plan)
        recorded = self.context.ledger.find(self.host_key, SUBSCRIPTION)
        found = _pick(subscriptions, self.url, recorded.id if recorded else None)
        what = f"webhook subscription '{webhook.name}'"
        settings: dict[str, Any] = {"name": webhook.name, "url": self.url, "events": events, "secret": secret}
        if found is None:
            def create() -> None:
                made = self.context.ledger.creating(self.host_key, SUBSCRIPTION, self.label, self.url,
                                                    lambda: self.client.create_webhook_subscription(**settings))
                self._record(str(made["id"]), created=True)

            plan.change("create", what, f"delivers {', '.join(events)} to {self.url}, signed with the wiki's secret",
                        create)
        else:
            created = self.context.ledger.made(self.host_key, SUBSCRIPTION, self.label,
                                               self.url if found.get("url") == self.url else None, str(found["id"]))
            differences = _differences(found, url=self.url, events=events, secret=secret)
            if differences:
                def update() -> None:
                    self.client.update_webhook_subscription(str(found["id"]), **settings)
                    self._record(str(found["id"]), created=created)

                plan.change("update", what, "; ".join(differences) + f"; now: {', '.join(events)} to {self.url}",
                            update)
            else:
                plan.say("keep", what, f"enabled, delivers {', '.join(events)} to {self.url}")
                if not plan.dry_run and (recorded is None or recorded.id != found.get("id")):
                    self._record(str(found["id"]), created=created)
        plan.say("manual", "rating widget", "Outline cannot run a site-wide script: add the link below to documents")
        plan.note(self.widget_note())
        private = [str(address) for address in internal_addresses(self.url)]
        if private:
            host = urlsplit(self.url).hostname or ""
            where = "a private address" if host in private else f"the private address {', '.join(private)}"
            plan.note(f"Outline refuses to deliver webhooks to private or loopback addresses, and {host} is {where}: "
                      f"the Outline admin sets ALLOWED_PRIVATE_IP_ADDRESSES={','.join(private)} in Outline's "
                      "environment, or set LEARNLOOP_PUBLIC_URL to an address Outline may call.")
        if not plan.dry_run and self.context.ledger.resources(self.host_key):
            self.context.ledger.set_status(self.host_key, "complete")

    def _secret(self, plan: Plan) -> str:
        """The wiki's secret, or a new random one written to the configuration before Outline hears of it."""
        if self.wiki.secret is not None:
            return self.wiki.secret_text
        secret = secrets.token_urlsafe(32)
        config = self.context.config

        def write() -> None:
            config.set_in_entry("wikis", self.wiki.name, "secret", secret)
            config.save()

        plan.change("create", "webhook secret", f"random, written to the [[wikis]] entry '{self.wiki.name}' of "
                    f"{config.path.name}", write)
        return secret

    @property
    def label(self) -> str:
        return f"webhook subscription to /wiki/{self.wiki.name}/events"

    def _record(self, subscription_id: str, *, created: bool) -> None:
        self.context.ledger.record(self.host_key, Resource(SUBSCRIPTION, subscription_id, self.label, created,
                                                           {"url": self.url, "name": self.manifest.webhook.name}))

    def widget_note(self) -> str:
        """Outline runs no site-wide script, and its API cannot place the widget: a document's text is markdown,
        in which a link stays a link (`shared/editor/rules/embeds.ts` turns a link into an embed only for
        descriptors with `matchOnInput`, and the generic iframe "Embed" of `shared/editor/embeds/index.tsx` has it
        false). So the admin (or an editor) adds the frame to each document with the editor's /embed."""
        public = self.context.settings.public_url_text
        origin = quote(origin_of(self.wiki.base_url), safe="")
        example = quote(f"{self.wiki.base_url}/doc/onboarding-guide-hD4kq9Zt2W", safe="")
        return (f"Rating in Outline (wiki '{self.wiki.name}'): Outline has no place for a site-wide script and its "
                "API cannot add an embed, so at the end of each document readers should rate, type /embed and "
                "paste the widget's address (it may be framed by this wiki only):\n"
                f"  {public}/widget/frame?origin={origin}&url=<the document's URL, percent-encoded>\n"
                f"  for example: {public}/widget/frame?origin={origin}&url={example}\n"
                "Where an Outline version offers no /embed for any address, add a link instead:\n"
                f"  [Was this useful? Rate it]({public}/rate?url={example})")

    def uninstall(self, plan: Plan) -> None:
        recorded = self.context.ledger.find(self.host_key, SUBSCRIPTION)
        what = f"webhook subscription '{self.manifest.webhook.name}'"
        if recorded is None:
            plan.say("leave", what, "the install record holds none for this wiki")
            return
        if not recorded.created:
            plan.say("leave", what, "it existed before learnloop install ran; delete it in Settings → Webhooks "
                                    "if wanted")
            if not plan.dry_run:
                self.context.ledger.forget(self.host_key, recorded)
            return
        if not any(s.get("id") == recorded.id for s in self._subscriptions()):
            plan.say("leave", what, "already deleted in Outline")
            if not plan.dry_run:
                self.context.ledger.forget(self.host_key, recorded)
            return

        def delete() -> None:
            self.client.delete_webhook_subscription(recorded.id)
            self.context.ledger.forget(self.host_key, recorded)

        plan.change("remove", what, f"the one learnloop created (id {recorded.id}); others stay", delete)


def installer_for(manifest: OutlineManifest, context: InstallContext, *, wiki_name: str | None,
                  token: str | None) -> OutlineInstaller:
    """`token`: an admin API key (--token); without it, the wiki's api_token, which must then be an admin's."""
    wiki = choose_wiki(context.settings, "outline", wiki_name=wiki_name, manifest_wiki=manifest.wiki)
    key = token or (wiki.api_token.get_secret_value() if wiki.api_token is not None else "")
    if not key:
        raise InstallBlocked(host_key(wiki), [f"no API key: pass --token, {ADMIN_KEY_HELP}"])
    return OutlineInstaller(manifest, context, wiki, key)


def doctor_checks(settings: Settings, wiki: WikiConfig, *, last_delivery: datetime | None) -> list[Check]:
    """Reachable, the api_token, the subscription (when the token may list them), deliveries."""
    client = OutlineClient.for_wiki(wiki)
    fix = "make a new API key in Outline and put it in api_token"
    try:
        info = client.auth_info()
    except OutlineError as exc:
        return access_checks(wiki, exc, accepted="", fix=fix)
    user: dict[str, Any] = info["user"] if isinstance(info.get("user"), dict) else {}
    checks = access_checks(wiki, None, accepted=f"belongs to {user.get('name', 'an Outline user')}", fix=fix)
    checks.append(_subscription_check(settings, wiki, client))
    checks.append(delivery_check(wiki, last_delivery,
                                 fix="save a document, or check the subscription in Outline's Settings → Webhooks"))
    return checks


def _subscription_check(settings: Settings, wiki: WikiConfig, client: OutlineClient) -> Check:
    host, url = host_key(wiki), events_url(settings, wiki)
    try:
        subscriptions = client.webhook_subscriptions()
    except OutlineError as exc:
        if exc.status_code == 403:
            return Check(host, "webhook subscription", "skip",
                         "api_token is not an admin key, so subscriptions cannot be read; deliveries tell instead")
        return Check(host, "webhook subscription", "fix", f"cannot list them: {exc}")
    if wiki.secret is None:
        return Check(host, "webhook subscription", "fix",
                     "the wiki has no secret yet: run learnloop install manifests/outline.yaml")
    found = _pick(subscriptions, url, None)
    if found is None:
        return Check(host, "webhook subscription", "fix",
                     f"none delivers to {url}: run learnloop install manifests/outline.yaml")
    differences = _differences(found, url=url, events=list(OutlineWebhook().events),
                               secret=wiki.secret_text)
    if differences:
        return Check(host, "webhook subscription", "fix",
                     "; ".join(differences) + ": run learnloop install manifests/outline.yaml again")
    return Check(host, "webhook subscription", "ok", f"'{found.get('name')}' enabled, delivers to {url}")

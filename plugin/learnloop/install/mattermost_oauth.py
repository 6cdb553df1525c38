"""The OAuth 2.0 app behind "Sign in with Mattermost" on the wiki widget, registered through Mattermost's API.

`api4/oauth.go`: every call needs the system permission manage_oauth (and manage_system_wide_oauth for an app
someone else made); `createOAuthApp` keeps `is_trusted` false unless the token also has manage_system; the
server answers 501 while System Console → Integrations → Integration Management → "Enable OAuth 2.0 Service
Provider" is off. The app's only callback is <LEARNLOOP_PUBLIC_URL>/oauth/callback (Mattermost requires an
exact match). Its id and secret go into learnloop.toml as mattermost_oauth_client_id and
mattermost_oauth_client_secret; the install record keeps the id and the secret's fingerprint, so `uninstall`
deletes the app and takes both out of the file.
"""

from __future__ import annotations

from collections.abc import Callable

from learnloop.install.config_file import fingerprint, mask
from learnloop.install.ledger import Ledger, Resource
from learnloop.install.manifest import MattermostManifest
from learnloop.install.plan import InstallContext, Plan
from learnloop.mattermost.admin_client import MattermostAdminClient
from learnloop.mattermost.client import JsonObject
from learnloop.mattermost.oauth import callback_url

OAUTH_APP = "oauth_app"
CLIENT_ID = "mattermost_oauth_client_id"
CLIENT_SECRET = "mattermost_oauth_client_secret"
OAUTH_OFF = ("the OAuth 2.0 service provider is off, so \"Sign in with Mattermost\" cannot work: System Console → "
             "Integrations → Integration Management → 'Enable OAuth 2.0 Service Provider' = true "
             "(ServiceSettings.EnableOAuthServiceProvider), or set oauth_app.enabled: false in the manifest")
COMPARED = ("name", "description", "homepage", "callback_urls", "is_trusted", "icon_url")


def desired_app(manifest: MattermostManifest, context: InstallContext) -> JsonObject:
    spec, icon = manifest.oauth_app, manifest.display_information.icon_url
    return {"name": spec.name, "description": spec.description, "homepage": context.settings.public_url_text,
            "callback_urls": [callback_url(context.settings)], "is_trusted": spec.trusted,
            "icon_url": str(icon) if icon else ""}


def label(manifest: MattermostManifest) -> str:
    return f"OAuth app '{manifest.oauth_app.name}'"


def find_app(admin: MattermostAdminClient, ledger: Ledger, host: str, callback: str) -> JsonObject | None:
    """Ours: the recorded app if Mattermost still has it, else one whose callback is ours."""
    recorded = ledger.find(host, OAUTH_APP)
    if recorded is not None:
        found = admin.get_oauth_app(recorded.id)
        if found is not None:
            return found
    return next((app for app in admin.list_oauth_apps() if callback in (app.get("callback_urls") or [])), None)


class OAuthAppStep:
    """Install and uninstall of the app, with the installer's plan, record and configuration file."""

    def __init__(self, manifest: MattermostManifest, context: InstallContext, admin: MattermostAdminClient,
                 host: str) -> None:
        self.manifest = manifest
        self.context = context
        self.admin = admin
        self.host = host

    def install(self, plan: Plan, found: JsonObject | None, *, may_trust: bool) -> None:
        what = label(self.manifest)
        if not self.manifest.oauth_app.enabled:
            plan.say("leave", what, "oauth_app.enabled is false: the widget signs people in with /learn signin")
            return
        desired = desired_app(self.manifest, self.context)
        if self.manifest.oauth_app.trusted and not may_trust:
            desired["is_trusted"] = False
            plan.note(f"{what}: the token is not a system admin's, so Mattermost keeps the app untrusted and asks "
                      "each person once to allow it.")
        if found is None:
            detail = f"\"Sign in with Mattermost\", calling back {desired['callback_urls'][0]}"
            made = plan.change("create", what, detail, lambda: self._create(desired))
            if made is not None:
                self._keep(made, created=True)
                secret = mask(str(made["client_secret"]))
                plan.note(f"OAuth client secret {secret} written to {self.context.config.path}")
            return
        created = self._created_before(found)
        differing = [key for key in COMPARED if found.get(key, "" if key == "icon_url" else None) != desired[key]]
        if differing:
            current = found
            updated = plan.change("update", what, ", ".join(differing),
                                  lambda: self.admin.update_oauth_app({**current, **desired, "id": current["id"]}))
            found = {**current, **(updated or {})}
        else:
            plan.say("keep", what, f"calls back {desired['callback_urls'][0]}")
        if self._configured(found):
            self._record(found, created=created)
        else:
            plan.change("update", f"{self.context.config.path.name}: {CLIENT_ID}, {CLIENT_SECRET}",
                        f"the app's client id and secret {mask(str(found.get('client_secret', '')))}",
                        lambda: self._keep(found, created=created))

    def remover(self, resource: Resource) -> Callable[[], None]:
        config = self.context.config

        def remove() -> None:
            """The secret leaves the file by its fingerprint, as every token install wrote (mattermost.py)."""
            if self.admin.get_oauth_app(resource.id) is not None:
                self.admin.delete_oauth_app(resource.id)
            if config.get(CLIENT_ID) == resource.id:
                config.remove(CLIENT_ID)

        return remove

    def _configured(self, app: JsonObject) -> bool:
        config = self.context.config
        return config.get(CLIENT_ID) == app["id"] and config.get(CLIENT_SECRET) == app.get("client_secret")

    def _keep(self, app: JsonObject, *, created: bool) -> None:
        """Written at once: the secret is what signs learnloop in to Mattermost's token endpoint."""
        config = self.context.config
        config.set(CLIENT_ID, str(app["id"]))
        config.set(CLIENT_SECRET, str(app["client_secret"]))
        config.save()
        self._record(app, created=created)

    def _record(self, app: JsonObject, *, created: bool) -> None:
        if not self.context.dry_run:
            self.context.ledger.record(self.host, Resource(
                OAUTH_APP, str(app["id"]), label(self.manifest), created,
                {"token_sha256": fingerprint(str(app.get("client_secret", "")))}))

    def _create(self, desired: JsonObject) -> JsonObject:
        return self.context.ledger.creating(self.host, OAUTH_APP, label(self.manifest), desired["callback_urls"][0],
                                            lambda: self.admin.create_oauth_app(desired))

    def _created_before(self, found: JsonObject) -> bool:
        """Recorded as learnloop's (under any name: the manifest may have renamed it), or found by the callback of
        a create call whose reply was lost."""
        callback = callback_url(self.context.settings)
        return self.context.ledger.made(self.host, OAUTH_APP, None,
                                        callback if callback in (found.get("callback_urls") or []) else None)

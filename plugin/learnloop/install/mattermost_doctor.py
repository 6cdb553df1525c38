"""`learnloop doctor`'s Mattermost rows: reachable, the bot token, the OAuth app of "Sign in with Mattermost",
and with an admin token the slash commands, outgoing webhooks and bot memberships the install record lists."""

from __future__ import annotations

from learnloop.install.ledger import Resource
from learnloop.install.mattermost_checks import PUBLIC_CHANNEL
from learnloop.install.mattermost_checks import host_key as mattermost_host_key
from learnloop.install.plan import Check, InstallContext
from learnloop.install.reachability import untrusted_problem
from learnloop.mattermost.admin_client import MattermostAdminClient, describe_failure
from learnloop.mattermost.client import MattermostClient, MattermostError
from learnloop.mattermost.oauth import callback_url


def doctor_checks(context: InstallContext, admin: MattermostAdminClient | None) -> list[Check]:
    """Reachable, bot token valid, and, with an admin token, command and webhooks in place."""
    settings = context.settings
    host = "mattermost"
    url = settings.mattermost_url_text
    if url is None:
        return [Check(host, "configured", "fix", "not connected (LEARNLOOP_MATTERMOST_URL is not set): run learnloop "
                      "install manifests/mattermost.yaml --url <its address> --token <a system admin's token>")]
    checks: list[Check] = []
    bot_token = settings.mattermost_bot_token.get_secret_value() if settings.mattermost_bot_token else ""
    bot = MattermostClient(url, bot_token, timeout=settings.mattermost_timeout_seconds)
    try:
        bot.ping()
        checks.append(Check(host, "reachable", "ok", url))
    except MattermostError as exc:
        return [Check(host, "reachable", "fix", f"{url}: {describe_failure(exc)}")]
    if not bot_token:
        checks.append(Check(host, "bot token", "fix",
                            "LEARNLOOP_MATTERMOST_BOT_TOKEN is not set: run learnloop install"))
    else:
        try:
            me = bot.get_me()
            wanted = settings.mattermost_bot_user_id
            if wanted and me.get("id") != wanted:
                checks.append(Check(host, "bot token", "fix", f"signs in as @{me.get('username')}, not the configured "
                                    "bot user id: run learnloop install again"))
            elif not me.get("is_bot"):
                checks.append(Check(host, "bot token", "fix", f"signs in as @{me.get('username')}, a person; "
                                    "use the bot's token"))
            else:
                checks.append(Check(host, "bot token", "ok", f"signs in as @{me.get('username')}"))
        except MattermostError as exc:
            checks.append(Check(host, "bot token", "fix", f"refused ({describe_failure(exc)}): run learnloop install "
                                "again to make a new one"))
    if bot_token:
        checks.append(_oauth_check(context, MattermostAdminClient(url, bot_token,
                                                                   timeout=settings.mattermost_timeout_seconds),
                                   admin))
    if admin is None:
        checks.append(Check(host, "command and webhooks", "skip", "pass --token <admin token> to check them"))
        return checks
    return checks + _integration_checks(context, admin, host)


def _oauth_check(context: InstallContext, bot: MattermostAdminClient, admin: MattermostAdminClient | None) -> Check:
    """"Sign in with Mattermost": the configured OAuth app exists and calls learnloop back (read with the bot's
    session: any session may read an app's public part), and, with an admin token, its secret is learnloop's."""
    settings, what = context.settings, "sign in with Mattermost"
    if not settings.oauth_enabled:
        return Check("mattermost", what, "skip", "no OAuth app configured: the widget signs people in with /learn "
                     "signin; learnloop install manifests/mattermost.yaml registers one")
    try:
        app = bot.get_oauth_app_info(str(settings.mattermost_oauth_client_id))
    except MattermostError as exc:
        return Check("mattermost", what, "fix", f"cannot read the OAuth app ({describe_failure(exc)}); "
                     "is the OAuth 2.0 service provider on?")
    if app is None:
        return Check("mattermost", what, "fix", "the configured OAuth app is gone: run learnloop install")
    callback = callback_url(settings)
    if callback not in (app.get("callback_urls") or []):
        return Check("mattermost", what, "fix", f"the OAuth app does not call back {callback}: run learnloop install")
    if admin is not None and settings.mattermost_oauth_client_secret is not None:
        try:
            full = admin.get_oauth_app(str(settings.mattermost_oauth_client_id))
        except MattermostError as exc:
            return Check("mattermost", what, "fix", f"the admin token could not read the OAuth app's secret "
                         f"({describe_failure(exc)})")
        secret = settings.mattermost_oauth_client_secret.get_secret_value()
        if full is not None and full.get("client_secret") != secret:
            return Check("mattermost", what, "fix", "its client secret is not the one in "
                         "mattermost_oauth_client_secret (regenerated in Mattermost?): run learnloop install")
    return Check("mattermost", what, "ok", f"OAuth app '{app.get('name')}' calls back {callback}")


def _integration_checks(context: InstallContext, admin: MattermostAdminClient, host: str) -> list[Check]:
    settings = context.settings
    checks: list[Check] = []
    public = settings.public_url_text
    host_key = mattermost_host_key(admin.base_url)
    resources = context.ledger.resources(host_key)
    try:
        commands = [r for r in resources if r.type == "command"]
        if not commands:
            checks.append(Check(host, "slash command", "fix", "the install record has none: run learnloop install"))
        for resource in commands:
            found = admin.find_command(resource.data["team_id"], resource.id)
            if found is None:
                checks.append(Check(host, resource.label, "fix", "gone from Mattermost: run learnloop install"))
            elif not str(found.get("url", "")).startswith(public + "/"):
                checks.append(Check(host, resource.label, "fix", f"calls {found.get('url')}, not {public}: run "
                                    "learnloop install"))
            elif found.get("token") not in settings.mattermost_command_tokens:
                checks.append(Check(host, resource.label, "fix", "its token is not in LEARNLOOP_MATTERMOST_COMMAND_"
                                    "TOKENS: run learnloop install"))
            else:
                checks.append(Check(host, resource.label, "ok", f"calls {found.get('url')}"))
        listened: set[str] = set()
        gone = False
        for resource in (r for r in resources if r.type == "outgoing_webhook"):
            hook = admin.get_outgoing_webhook(resource.id)
            listened.update([str(hook["channel_id"])] if hook else [])
            gone = gone or hook is None
            label = f"webhook {resource.label}"
            channel = admin.find_channel(hook["channel_id"]) if hook else None
            if hook is None:
                checks.append(Check(host, label, "fix", "gone from Mattermost: run learnloop install"))
            elif channel is None or channel.get("delete_at"):
                checks.append(Check(host, label, "fix", "its channel is archived or gone"))
            elif not any(str(u).startswith(public + "/") for u in hook.get("callback_urls") or []):
                checks.append(Check(host, label, "fix", f"calls {hook.get('callback_urls')}, not {public}"))
            elif hook.get("token") not in settings.mattermost_webhook_tokens:
                checks.append(Check(host, label, "fix", "its token is not in LEARNLOOP_MATTERMOST_WEBHOOK_TOKENS: "
                                    "run learnloop install"))
            else:
                checks.append(Check(host, label, "ok", "alive"))
        checks += _membership_checks(admin, host, resources, settings.mattermost_bot_user_id)
        for community in settings.communities if not gone else []:  # one added to learnloop.toml after the
            for channel_id in community.all_channels:  # install, say (a hook gone is told above)
                if channel_id not in listened:
                    checks.append(_unlistened_check(admin, host, community.name, channel_id))
        service = admin.get_config().get("ServiceSettings") or {}
        untrusted = untrusted_problem(public, str(service.get("AllowedUntrustedInternalConnections") or ""))
        checks.append(Check(host, "may call learnloop", "fix" if untrusted else "ok", untrusted or public))
    except MattermostError as exc:
        checks.append(Check(host, "admin checks", "fix", f"the admin token could not read them "
                            f"({describe_failure(exc)})"))
    return checks


def _membership_checks(admin: MattermostAdminClient, host: str, resources: list[Resource],
                       bot_id: str | None) -> list[Check]:
    """A row for each team or channel install added the bot to and that no longer has it (a /kick, say)."""
    checks = []
    for resource in (r for r in resources if r.type in ("team_member", "channel_member")) if bot_id else ():
        find = admin.find_team_member if resource.type == "team_member" else admin.find_channel_member
        member = find(resource.id, str(bot_id))
        if member is None or member.get("delete_at"):
            checks.append(Check(host, resource.label, "fix", "not a member any more, so the bot cannot post there: "
                                "run learnloop install"))
    return checks


def _unlistened_check(admin: MattermostAdminClient, host: str, community: str, channel_id: str) -> Check:
    """A community's channel without a webhook: expected for a private one, which install leaves without."""
    label = f"community {community}"
    channel = admin.find_channel(channel_id)
    if channel is not None and channel.get("type") != PUBLIC_CHANNEL:
        return Check(host, label, "ok", f"channel {channel_id} is private: chat posts there are not counted, since "
                     "Mattermost's outgoing webhooks listen only in public channels (/learn works there)")
    return Check(host, label, "fix", f"no outgoing webhook listens in its channel {channel_id}: run learnloop install "
                 "manifests/mattermost.yaml")

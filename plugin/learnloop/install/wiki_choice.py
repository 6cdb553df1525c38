"""What the three wiki installers share: which [[wikis]] entry a manifest is for, the URLs learnloop
gives a wiki, and the doctor's "has the wiki delivered to us" row."""

from __future__ import annotations

from datetime import datetime

from learnloop.config import Settings, WikiConfig, WikiKind
from learnloop.install.plan import Check, InstallBlocked
from learnloop.wikis import WikiError

DELIVERIES = "webhook deliveries"
KIND_NAMES: dict[str, str] = {"mediawiki": "MediaWiki", "outline": "Outline", "bookstack": "BookStack"}


def host_key(wiki: WikiConfig) -> str:
    """The install record's key for this wiki, and the host column of `doctor`."""
    return f"{wiki.kind} {wiki.name}"


def choose_wiki(settings: Settings, kind: WikiKind, *, wiki_name: str | None, manifest_wiki: str | None) -> WikiConfig:
    """`--wiki`, else the manifest's `wiki`, else the only [[wikis]] entry of this kind."""
    name = wiki_name or manifest_wiki
    where = str(settings.config_file)
    label = KIND_NAMES[kind]
    of_kind = [wiki for wiki in settings.wikis if wiki.kind == kind]
    if name is not None:
        wiki = settings.wiki(name)
        source = "--wiki" if wiki_name else "the manifest's wiki:"
        if wiki is None:
            raise InstallBlocked(f"{kind} {name}", [
                f"{source} names '{name}', but no [[wikis]] entry in {where} has that name; "
                + _choices(settings.wikis, "configured wikis")])
        if wiki.kind != kind:
            raise InstallBlocked(f"{kind} {name}", [
                f"wiki '{name}' is a {KIND_NAMES[wiki.kind]} wiki (kind = \"{wiki.kind}\"), but this manifest is for "
                f"{label}: use manifests/{wiki.kind}.yaml for it, or " + _choices(of_kind, f"{label} wikis")])
        return wiki
    if len(of_kind) == 1:
        return of_kind[0]
    if not of_kind:
        raise InstallBlocked(kind, [(
            f"no [[wikis]] entry of kind \"{kind}\" in {where}: add one (name, kind = \"{kind}\", {_fields(kind)}), "
            "then run install again")])
    raise InstallBlocked(kind, [(
        f"{len(of_kind)} {label} wikis are configured ({', '.join(w.name for w in of_kind)}): choose one with "
        "--wiki NAME or `wiki:` in the manifest")])


def _choices(wikis: list[WikiConfig], what: str) -> str:
    if not wikis:
        return f"there are no {what}"
    return f"{what}: " + ", ".join(f"{wiki.name} ({wiki.kind})" for wiki in wikis)


def _fields(kind: str) -> str:
    """The fields a [[wikis]] entry of this kind needs besides name and kind."""
    return {"mediawiki": "url, secret, and bot_user and bot_password from Special:BotPasswords",
            "outline": "url and api_token; install writes its secret",
            "bookstack": "url, secret, and api_token as '<token id>:<token secret>'"}[kind]


def events_url(settings: Settings, wiki: WikiConfig) -> str:
    """Where the wiki delivers its events (`POST /wiki/<name>/events`); carries no secret."""
    return f"{settings.public_url_text}/wiki/{wiki.name}/events"


def widget_url(settings: Settings) -> str:
    """The rating widget script; it finds the page it rates itself (canonical URL), so it takes no parameters."""
    return f"{settings.public_url_text}/widget.js"


def delivery_check(wiki: WikiConfig, last_delivery: datetime | None, *, fix: str) -> Check:
    """`doctor`'s proof that the wiki's webhook reaches us: the last delivery this service received."""
    if last_delivery is None:
        return Check(host_key(wiki), DELIVERIES, "fix", f"no delivery received yet: {fix}")
    return Check(host_key(wiki), DELIVERIES, "ok",
                 f"last delivery {last_delivery.isoformat(timespec='seconds')}")


def _unreachable(error: WikiError) -> bool:
    return getattr(error, "status_code", None) is None or error.retryable


def access_problem(settings: Settings, wiki: WikiConfig, error: WikiError, *, refused: str, forbidden: str) -> str:
    """What to fix when a wiki's API refused the installer's first calls (Outline's and BookStack's errors
    carry the HTTP status)."""
    if _unreachable(error):
        return (f"cannot reach {KIND_NAMES[wiki.kind]} at {wiki.base_url}: {error}; check `url` of [[wikis]] "
                f"'{wiki.name}' in {settings.config_file}")
    status = getattr(error, "status_code", None)
    if status == 401:
        return f"{refused} ({error})"
    if status == 403:
        return f"{forbidden} ({error})"
    return f"the {KIND_NAMES[wiki.kind]} API failed: {error}"


def access_checks(wiki: WikiConfig, error: WikiError | None, *, accepted: str, fix: str) -> list[Check]:
    """`doctor`'s first rows: is the wiki reachable, and does it accept the configured token."""
    host = host_key(wiki)
    if error is not None and _unreachable(error):
        return [Check(host, "reachable", "fix", f"{error}; check the wiki's url")]
    reachable = Check(host, "reachable", "ok", wiki.base_url)
    if error is not None:
        return [reachable, Check(host, "api token", "fix", f"{error}: {fix}")]
    return [reachable, Check(host, "api token", "ok", accepted)]

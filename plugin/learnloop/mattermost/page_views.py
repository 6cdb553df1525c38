"""`/learn pages` (community owners): which pages and spaces have owners named, `pages owner <url or space>
@person [remove]` to name or remove one, and `pages interval 180d` for how often pages need review. The
*Mark reviewed* and *Not mine* buttons of an owner's weekly message about pages to review.

A person is found through Mattermost (GET /users/username/{username}); refusals say why and store nothing."""

from __future__ import annotations

import re
from typing import Any

from learnloop.domain.page_review import ReviewRefused
from learnloop.mattermost.client import MattermostError
from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.messages import describe_item, ephemeral, refused_value
from learnloop.mattermost.ownership import OWNERS, community_owners, community_role, role_in_channel
from learnloop.mattermost.page_messages import NOT_MINE_ACTION, REVIEWED_ACTION, unowned_dm
from learnloop.mattermost.payloads import ActionRequest
from learnloop.services import page_owners, page_review
from learnloop.services.page_owners import Target

PAGES_USAGE = "pages | pages owner <url or space> @person [remove] | pages interval <days>d"
USERNAME = re.compile(r"@([a-z0-9][a-z0-9._-]{0,63})")


def _usage(trigger: str) -> Reply:
    return ephemeral(f"Usage: `{trigger} {PAGES_USAGE}`. For example `{trigger} pages owner "
                     f"https://wiki.example.com/Onboarding @ann`, `{trigger} pages owner Engineering @ann` (a wiki "
                     f"space this community maps), or `{trigger} pages interval 90d`.")


def pages_command(invocation: Invocation) -> Reply:
    chat, request, trigger = invocation.chat, invocation.request, invocation.trigger
    action, _, rest = invocation.args.partition(" ")
    action = action.lower()
    if action not in ("", "owner", "interval"):
        return _usage(trigger)
    if role_in_channel(chat, request) != "owner":
        return ephemeral(f"Only this community's owners ({OWNERS}) name page owners and see who owns what. "
                         "Nothing changed.")
    community_id = invocation.community_id()
    if action == "owner":
        return _owner(invocation, community_id, rest)
    if action == "interval":
        try:
            with chat.uow() as uow:
                days = page_owners.set_interval(uow, community_id, rest)
        except ReviewRefused as exc:
            return refused_value(exc, f"{trigger} pages interval <days>d", f"{trigger} pages interval 90d")
        return ephemeral(f"This community's wiki pages now need review every {days} days, counted from their last "
                         "review (or from when learnloop first saw them). Their owners hear about it in their weekly "
                         "message.")
    with chat.reader() as uow:
        found = page_owners.listing(uow, community_id)
    lines = [f"**Page owners in this community.** Pages need review every {found.interval_days} days "
             f"(`{trigger} pages interval 90d` to change it)."]
    if found.spaces:
        lines.append("Wiki spaces (every page of the space without an owner of its own):")
        lines += [f"- {label}: {', '.join('@' + name for name in names)}" for label, names in found.spaces]
    if found.pages:
        lines.append("Pages:")
        lines += [f"- {describe_item(url, title)}: {', '.join('@' + name for name in names)}"
                  for title, url, names in found.pages]
    if not found.spaces and not found.pages:
        lines.append("No page or space has an owner named yet.")
    lines.append(f"Every other page goes to the community's owners. Name one with `{trigger} pages owner <url or "
                 "space> @person`.")
    return ephemeral("\n".join(lines))


def _owner(invocation: Invocation, community_id: int, rest: str) -> Reply:
    chat, trigger = invocation.chat, invocation.trigger
    words = rest.split()
    remove = bool(words) and words[-1].lower() == "remove"
    if remove:
        words = words[:-1]
    person = USERNAME.fullmatch(words[-1].lower()) if words else None
    bare = USERNAME.fullmatch("@" + words[-1].lower()) if len(words) >= 2 and person is None else None
    if bare is not None:
        suggested = " ".join([*words[:-1], "@" + bare.group(1), *(["remove"] if remove else [])])
        return ephemeral(f"Put @ before the username: `{trigger} pages owner {suggested}`, if {bare.group(1)} is "
                         "whom you mean. Nothing changed.")
    if person is None or len(words) < 2:
        return ephemeral(f"Name the page (its URL) or space, then the person with @: for example `{trigger} pages "
                         f"owner https://wiki.example.com/Onboarding @ann`, or add `remove` at the end to take "
                         "them off.")
    username, target = person.group(1), " ".join(words[:-1])
    try:
        found = _user(chat, username)
    except PersonUnknown as exc:
        return ephemeral(str(exc))
    try:
        with chat.uow() as uow:
            if remove:
                done = page_owners.unassign(uow, chat.settings, community_id, target, found, username)
                return ephemeral(_removed(done, username))
            named, added = page_owners.assign(uow, chat.settings, community_id, target, found, username,
                                              chat.clock())
    except ReviewRefused as exc:
        return ephemeral(f"Nothing changed: {exc}.")
    if not added:
        return ephemeral(f"@{username} already owns {_what(named)}; nothing changed.")
    scope = ("every page of it without an owner of its own" if named.kind == "space" else "it")
    return ephemeral(f"@{username} now owns {_what(named)}: they hear about {scope} privately in a weekly message "
                     "when it needs review (readers say it is outdated or has a broken link, its score drops, or "
                     "nobody has reviewed it within the interval).")


def _what(target: Target) -> str:
    return f"the wiki space {target.label}" if target.kind == "space" else f"the page {target.label}"


def _removed(target: Target, username: str) -> str:
    return (f"@{username} no longer owns {_what(target)}. A page nobody else owns by name goes to the owners of "
            "its wiki space, else to the community's owners.")


class PersonUnknown(LookupError):
    """No active Mattermost account by that name; the message says why, for the person who asked."""


def _user(chat: Chat, username: str) -> str:
    """The user id of the active Mattermost account with this username; PersonUnknown says why there is none."""
    client = chat.mattermost()
    if client is None:
        raise PersonUnknown("learnloop cannot reach Mattermost to find that person: ask an admin to check its bot "
                            "settings.")
    try:
        user = client.get_user_by_username(username)
    except MattermostError as exc:
        if exc.status_code in (400, 404):
            raise PersonUnknown(f"Mattermost has no user @{username}: check the name (as it appears after @). "
                                "Nothing changed.") from None
        raise PersonUnknown("Mattermost did not answer in time; nothing changed. Please try again in a moment.") \
            from None
    user_id = user.get("id") if isinstance(user, dict) else None
    if not isinstance(user_id, str) or not user_id:
        raise PersonUnknown("Mattermost did not say who that is; nothing changed. Please try again.")
    if user.get("delete_at"):
        raise PersonUnknown(f"@{username}'s account is deactivated, so they cannot own pages. Nothing changed.")
    if user.get("is_bot"):
        raise PersonUnknown(f"@{username} is a bot: pages need a person as owner. Nothing changed.")
    return user_id


def _page(chat: Chat, context: dict[str, Any]) -> tuple[int, page_owners.Owners] | Reply:
    """The page a button names and who owns it now, or the reply when there is no such page."""
    try:
        item_id = int(context["item_id"])
    except (KeyError, TypeError, ValueError):
        return {"ephemeral_text": "This button does not name a page learnloop knows; nothing changed."}
    with chat.reader() as uow:
        owners = page_owners.owners_of(uow, item_id)
    if owners is None:
        return {"ephemeral_text": "learnloop no longer has this page; nothing changed."}
    return item_id, owners


def _may_act(chat: Chat, owners: page_owners.Owners, user_id: str) -> bool:
    """A named owner of the page, or (for a page nobody owns by name) an owner of its community."""
    if owners.by != "community":
        return user_id in owners.user_ids
    if owners.community_id is None:
        return False
    with chat.reader() as uow:
        community = uow.communities.get(owners.community_id)
    return community is not None and community_role(chat, community.channel_id, user_id) == "owner"


def handle_reviewed(chat: Chat, action: ActionRequest, context: dict[str, Any]) -> Reply:
    found = _page(chat, context)
    if not isinstance(found, tuple):
        return found
    item_id, owners = found
    if not _may_act(chat, owners, action.user_id):
        return {"ephemeral_text": f"You are no longer one of the owners of {describe_item(owners.url, owners.title)}"
                                  "; nothing changed."}
    try:
        with chat.uow() as uow:
            done = page_review.mark_reviewed(uow, item_id, chat.clock())
    except ReviewRefused as exc:
        return {"ephemeral_text": f"Nothing changed: {exc}."}
    resolved = (f" Its {done.resolved} open {'reason is' if done.resolved == 1 else 'reasons are'} marked resolved."
                if done.resolved else "")
    return {"ephemeral_text": f"Marked reviewed: {describe_item(done.url, done.title)}.{resolved} It comes up "
                              f"again in {done.interval_days} days, or sooner if readers flag it."}


def handle_not_mine(chat: Chat, action: ActionRequest, context: dict[str, Any]) -> Reply:
    found = _page(chat, context)
    if not isinstance(found, tuple):
        return found
    item_id, owners = found
    with chat.reader() as uow:
        last = page_owners.falls_back_without(uow, item_id, action.user_id)
    told_to = community_owners(chat, owners.community_id) if last and owners.community_id is not None else []
    try:
        with chat.uow() as uow:
            done = page_owners.not_mine(uow, item_id, action.user_id, chat.clock(), told_to,
                                        lambda owner, title, url: unowned_dm(owner, title, url))
    except ReviewRefused as exc:
        return {"ephemeral_text": f"Nothing changed: {str(exc)[:1].upper()}{str(exc)[1:]}."}
    page = describe_item(done.url, done.title)
    if not done.fell_back:
        return {"ephemeral_text": f"You no longer hear about {page}; its other owners still do."}
    return {"ephemeral_text": f"You no longer hear about {page}. Nobody else owns it by name, so the community's "
                              f"owners hear about it again ({done.told} told now)."}


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "pages", usage="pages [owner <url or space> @person [remove] | interval <days>d]",
        example="pages owner Engineering @ann",
        summary="Owners: who hears about each page. Name a page's or a wiki space's owner, who gets a private weekly "
                "message when a page needs review; set how often pages need review (default 180 days).",
        handler=pages_command)
    commands.action(REVIEWED_ACTION, handle_reviewed)
    commands.action(NOT_MINE_ACTION, handle_not_mine)

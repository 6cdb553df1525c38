"""`/learn wiki`: which wiki spaces feed this channel, and what of them its owners want announced."""

from __future__ import annotations

from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.messages import ephemeral, refused_value
from learnloop.mattermost.ownership import OWNERS, owns_channel
from learnloop.services import wiki_ingest
from learnloop.services.communities import community_for_channel

ANNOUNCE_USAGE, ANNOUNCE_EXAMPLE = "wiki announce new_pages|new_and_major|digest_only", "wiki announce new_pages"
NO_SPACE = "No wiki space feeds this channel yet; your admin maps spaces to communities in learnloop.toml."


def wiki_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    configured = chat.settings.community_for_channel(request.channel_id)
    spaces = configured.wiki_spaces if configured else []
    word, _, rest = invocation.args.partition(" ")
    with chat.uow() as uow:
        community_id = community_for_channel(uow, chat.settings, channel_id=request.channel_id,
                                             team_id=request.team_id or None, channel_name=request.channel_name or None,
                                             now=chat.clock())
        uow.commit()
        if word.lower() == "announce":
            if not spaces:
                return ephemeral(f"{NO_SPACE} Until then there are no page changes to announce here, so nothing "
                                 "changed.")
            if not owns_channel(chat, request):
                return ephemeral(f"Only this community's owners ({OWNERS}) choose what is announced here.")
            try:
                wiki_ingest.set_announce_policy(uow, community_id, rest.strip().lower())
            except ValueError as exc:
                return refused_value(exc, f"{invocation.trigger} {ANNOUNCE_USAGE}",
                                     f"{invocation.trigger} {ANNOUNCE_EXAMPLE}")
            return ephemeral(f"This channel now hears about {wiki_ingest.ANNOUNCE_POLICIES[rest.strip().lower()]}.")
        policy = wiki_ingest.announce_policy(uow, community_id, configured.announce if configured else "digest_only")
    if not spaces:
        return ephemeral(NO_SPACE)
    listed = ", ".join(f"{space.space} ({space.wiki})" for space in spaces)
    return ephemeral(f"Wiki spaces for this channel: {listed}. "
                     f"Announced here: {wiki_ingest.ANNOUNCE_POLICIES[policy]}. Owners change it with "
                     f"`{invocation.trigger} {ANNOUNCE_USAGE}`.")


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "wiki", usage="wiki [announce new_pages|new_and_major|digest_only]", example=ANNOUNCE_EXAMPLE,
        summary="The wiki spaces that feed this channel; owners choose which page changes are posted here.",
        handler=wiki_command)

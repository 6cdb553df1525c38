"""`/learn wiki`: which wiki spaces feed this channel, and what of them its owners want announced."""

from __future__ import annotations

from learnloop.mattermost.commands import Invocation, Reply, subcommand
from learnloop.mattermost.messages import ephemeral
from learnloop.mattermost.ownership import is_community_owner
from learnloop.services import wiki_ingest
from learnloop.services.communities import community_for_channel


@subcommand("wiki", usage="wiki [announce new_pages|new_and_major|digest_only]", example="wiki announce new_pages",
            summary="The wiki spaces that feed this channel; owners choose which page changes are posted here.")
def wiki_command(invocation: Invocation) -> Reply:
    runtime, request = invocation.runtime, invocation.request
    configured = runtime.settings.community_for_channel(request.channel_id)
    word, _, rest = invocation.args.partition(" ")
    with runtime.uow() as uow:
        community_id = community_for_channel(uow, runtime.settings, channel_id=request.channel_id,
                                             team_id=request.team_id or None, channel_name=request.channel_name or None,
                                             now=runtime.clock())
        uow.commit()
        if word.lower() == "announce":
            if not is_community_owner(runtime, request.channel_id, request.user_id):
                return ephemeral("Only this community's owners choose what is announced here.")
            try:
                wiki_ingest.set_announce_policy(uow, community_id, rest.strip().lower())
            except ValueError as exc:
                return ephemeral(f"{exc}.")
            return ephemeral(f"This channel now hears about {wiki_ingest.ANNOUNCE_POLICIES[rest.strip().lower()]}.")
        policy = wiki_ingest.announce_policy(uow, community_id, configured.announce if configured else "digest_only")
    spaces = configured.wiki_spaces if configured else []
    if not spaces:
        return ephemeral("No wiki space feeds this channel yet; your admin maps spaces to communities in learnloop.toml.")
    listed = ", ".join(f"{space.space} ({space.wiki})" for space in spaces)
    return ephemeral(f"Wiki spaces for this channel: {listed}. Announced here: {wiki_ingest.ANNOUNCE_POLICIES[policy]}. "
                     "Owners change it with `/learn wiki announce new_pages|new_and_major|digest_only`.")

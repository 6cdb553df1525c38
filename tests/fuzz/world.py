"""The world every fuzz case is written for: who is who, the tokens and secrets, the community and the wikis.

The in-process suite (tests/fuzz) and scripts/fuzz_inbound.py (against `learnloop serve`) configure the
service from these same values, so a case means the same thing in both."""

from __future__ import annotations

import json
from typing import Any

from tests.standins.mattermost_http import World

SECRET_KEY = "fuzz-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
SIGNING_KEY = SECRET_KEY.encode("utf-8")
COMMAND_TOKEN = "fuzzcommandtoken0000000001"
WEBHOOK_TOKEN = "fuzzwebhooktoken0000000001"
BOT_TOKEN = "fuzz-bot-token-0000000000000000"
BOT_USER = "fuzzbot0000000000000000001"
PUBLIC_URL = "https://learnloop.fuzz.example"

OWNER = "owner000000000000000000001"
MEMBER = "member00000000000000000001"
STRANGER = "stranger000000000000000001"
USERS = (OWNER, MEMBER, STRANGER)
"""OWNER is named an owner in the configuration; MEMBER is in the channel (Mattermost says so);
STRANGER is in no channel."""

TEAM = "team0000000000000000000001"
CHANNEL = "channel0000000000000000001"
OTHER_CHANNEL = "channel0000000000000000002"
CHANNELS = (CHANNEL, OTHER_CHANNEL)
"""CHANNEL is the configured community (with a wiki space to publish to); OTHER_CHANNEL is not configured."""

MEDIAWIKI, OUTLINE, BOOKSTACK = "mw", "docs", "books"
WIKI_SECRETS = {MEDIAWIKI: "mediawiki-push-secret-0123456789abcdef", OUTLINE: "outline-signing-secret-0123456789abcd",
                BOOKSTACK: "bookstack-query-secret-0123456789abcde"}
WIKI_KINDS = {MEDIAWIKI: "mediawiki", OUTLINE: "outline", BOOKSTACK: "bookstack"}


def mattermost() -> World:
    """The world's Mattermost, for the stand-in: OWNER and MEMBER in both channels."""
    return World.given(team_id=TEAM, channels={channel: [OWNER, MEMBER] for channel in CHANNELS}, bot_id=BOT_USER,
                       token=BOT_TOKEN)


def wikis() -> list[dict[str, Any]]:
    return [
        {"name": MEDIAWIKI, "kind": "mediawiki", "url": "http://mediawiki.fuzz.example",
         "secret": WIKI_SECRETS[MEDIAWIKI], "bot_user": "Learnloop@fuzz", "bot_password": "fuzz-bot-password"},
        {"name": OUTLINE, "kind": "outline", "url": "http://outline.fuzz.example", "secret": WIKI_SECRETS[OUTLINE],
         "api_token": "ol_api_fuzz"},
        {"name": BOOKSTACK, "kind": "bookstack", "url": "http://bookstack.fuzz.example",
         "secret": WIKI_SECRETS[BOOKSTACK], "api_token": "id:secret"},
    ]


def communities() -> list[dict[str, Any]]:
    return [{"name": "Fuzzers", "channel_id": CHANNEL, "owners": [OWNER], "timezone": "Europe/Berlin",
             "wiki_spaces": [{"wiki": MEDIAWIKI, "space": "Fuzzing"}, {"wiki": OUTLINE, "space": "Fuzzing"}]}]


def settings_values(*, database_url: str, mattermost_url: str) -> dict[str, Any]:
    """Keyword arguments for learnloop.config.Settings."""
    return {
        "database_url": database_url, "public_url": PUBLIC_URL, "secret_key": SECRET_KEY,
        "mattermost_url": mattermost_url, "mattermost_bot_token": BOT_TOKEN, "mattermost_bot_user_id": BOT_USER,
        "mattermost_command_tokens": [COMMAND_TOKEN], "mattermost_webhook_tokens": [WEBHOOK_TOKEN],
        "mattermost_timeout_seconds": 2.0, "communities": communities(), "wikis": wikis(),
    }


def config_toml() -> str:
    """learnloop.toml for `learnloop serve` with the same communities and wikis (TOML's inline tables are JSON-ish
    enough for these flat values)."""
    lines: list[str] = []
    for wiki in wikis():
        lines.append("[[wikis]]")
        lines.extend(f"{name} = {json.dumps(value)}" for name, value in wiki.items())
    for community in communities():
        lines.append("[[communities]]")
        for name, value in community.items():
            if name == "wiki_spaces":
                continue
            lines.append(f"{name} = {json.dumps(value)}")
        for space in community["wiki_spaces"]:
            lines.append("[[communities.wiki_spaces]]")
            lines.extend(f"{name} = {json.dumps(value)}" for name, value in space.items())
    return "\n".join(lines) + "\n"


def serve_environment(*, database_url: str, mattermost_url: str, config_file: str) -> dict[str, str]:
    """LEARNLOOP_* variables for `learnloop serve` in this world."""
    return {
        "LEARNLOOP_DATABASE_URL": database_url, "LEARNLOOP_PUBLIC_URL": PUBLIC_URL, "LEARNLOOP_SECRET_KEY": SECRET_KEY,
        "LEARNLOOP_MATTERMOST_URL": mattermost_url, "LEARNLOOP_MATTERMOST_BOT_TOKEN": BOT_TOKEN,
        "LEARNLOOP_MATTERMOST_BOT_USER_ID": BOT_USER, "LEARNLOOP_MATTERMOST_COMMAND_TOKENS": COMMAND_TOKEN,
        "LEARNLOOP_MATTERMOST_WEBHOOK_TOKENS": WEBHOOK_TOKEN, "LEARNLOOP_MATTERMOST_TIMEOUT_SECONDS": "2",
        "LEARNLOOP_CONFIG_FILE": config_file, "LEARNLOOP_WEB_WORKERS": "1", "LEARNLOOP_ACCESS_LOG": "true",
    }

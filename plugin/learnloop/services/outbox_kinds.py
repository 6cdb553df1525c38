"""Names of the outbox messages that call Mattermost; the worker maps each to a client call."""

CREATE_POST = "mattermost.create_post"
UPDATE_POST = "mattermost.update_post"
"""Keyed `edit_key(post_key, n)`: the n-th edit of the post made under `post_key`."""
DELETE_POST = "mattermost.delete_post"
RESPOND = "mattermost.respond"
CLASSIFY_POST = "mattermost.classify_post"
SEND_PROMPT = "mattermost.send_prompt"
SEND_NUDGE = "mattermost.send_nudge"
SEND_DM = "mattermost.send_dm"
ANSWERED_PROMPT = "mattermost.answered_prompt"
"""A prompt's DM once answered: its buttons give way to what became of the answer."""
CHANNEL_BOOKMARKS = "mattermost.channel_bookmarks"
"""Links bookmarked in a channel (or, where Mattermost has no channel bookmarks, one pinned post listing them)."""


def edit_key(post_key: str, number: int) -> str:
    """The outbox key of the `number`-th UPDATE_POST of the post made under `post_key`."""
    return f"{post_key}:edit:{number}"


def edit_number(key: str, post_key: str) -> int | None:
    """Which edit of the post made under `post_key` the outbox key is (`edit_key`); None if it is none."""
    number = key.removeprefix(f"{post_key}:edit:")
    return int(number) if number != key and number.isdigit() else None


def delivery_keys(delivery_id: int) -> tuple[str, str]:
    """The outbox keys of a prompt delivery's messages, by which the erase finds them: how its prompt's start
    (`prompt:{id}:{due}`, queued again when due again), and its one nudge's whole key (`nudge:{id}` is also how
    `nudge:{id}0` starts)."""
    return f"prompt:{delivery_id}:", f"nudge:{delivery_id}"

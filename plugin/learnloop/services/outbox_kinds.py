"""Names of the outbox messages that call Mattermost; the worker maps each to a client call."""

CREATE_POST = "mattermost.create_post"
UPDATE_POST = "mattermost.update_post"
RESPOND = "mattermost.respond"
CLASSIFY_POST = "mattermost.classify_post"
SEND_PROMPT = "mattermost.send_prompt"
SEND_NUDGE = "mattermost.send_nudge"
SEND_DM = "mattermost.send_dm"

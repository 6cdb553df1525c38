"""Mattermost: inbound views (slash command, actions, dialogs, outgoing webhook) and the REST client."""

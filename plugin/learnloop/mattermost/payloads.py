"""The requests Mattermost sends us, as typed and validated models.

Formats follow Mattermost's documentation of slash commands, interactive messages, dialogs and outgoing
webhooks (its server code is the tie-breaker).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from learnloop.clock import reported

MAX_POST_LENGTH = 16383
ModelT = TypeVar("ModelT", bound=BaseModel)
ID_LENGTH = 26
"""Every Mattermost id (user, channel, team, post) is 26 characters; the tables' id columns are String(26)."""
MAX_NAME_LENGTH = 64
"""Mattermost channel names and user names fit in 64 characters, as do the tables' name columns."""
MattermostId = Field(min_length=ID_LENGTH, max_length=ID_LENGTH)
OptionalId = Field(default="", max_length=ID_LENGTH)
Name = Field(default="", max_length=MAX_NAME_LENGTH)


class PayloadError(ValueError):
    """A request from Mattermost that lacks what it must carry; the message says what."""


class _Inbound(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class SlashCommand(_Inbound):
    token: str = ""
    team_id: str = OptionalId
    team_domain: str = ""
    channel_id: str = MattermostId
    channel_name: str = Name
    user_id: str = MattermostId
    user_name: str = Name
    command: str = ""
    text: str = Field(default="", max_length=MAX_POST_LENGTH)
    trigger_id: str = ""
    root_id: str = ""
    response_url: str = ""


class OutgoingWebhookPost(_Inbound):
    token: str = ""
    team_id: str = OptionalId
    team_domain: str = ""
    channel_id: str = MattermostId
    channel_name: str = Name
    timestamp: int | None = None
    user_id: str = MattermostId
    user_name: str = Name
    post_id: str = MattermostId
    text: str = Field(default="", max_length=MAX_POST_LENGTH)
    trigger_word: str = ""
    file_ids: str = ""

    def occurred_at(self, *, milliseconds: bool, fallback: datetime) -> datetime:
        """Form deliveries carry seconds, JSON deliveries milliseconds (reference §2b); a time clock.reported
        does not believe is `fallback`."""
        if not self.timestamp or self.timestamp < 0:
            return fallback
        try:
            sent = datetime.fromtimestamp(self.timestamp / 1000 if milliseconds else self.timestamp, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return fallback
        return reported(sent, fallback)


class ActionRequest(_Inbound):
    user_id: str = MattermostId
    user_name: str = Name
    channel_id: str = MattermostId
    channel_name: str = Name
    team_id: str = OptionalId
    team_domain: str = ""
    post_id: str = ""
    trigger_id: str = ""
    type: str = ""
    data_source: str = ""
    context: dict[str, Any] = Field(default_factory=dict)


class DialogSubmission(_Inbound):
    type: str = "dialog_submission"
    callback_id: str = ""
    state: str = ""
    user_id: str = MattermostId
    channel_id: str = OptionalId
    team_id: str = OptionalId
    submission: dict[str, Any] = Field(default_factory=dict)
    cancelled: bool = False

    @field_validator("submission", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator("submission")
    @classmethod
    def _plain_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        """Our dialogs have text, select and true/false fields only: no value is a list or an object."""
        for name, field in value.items():
            if isinstance(field, (list, dict)):
                raise ValueError(f"field {name[:40]!r} must be text, a number or true/false")
        return value


def parse(model: type[ModelT], data: Any) -> ModelT:
    """Validate a payload, turning pydantic's report into one readable sentence."""
    if not isinstance(data, dict):
        raise PayloadError("the request body must be a JSON object or a form")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            field = ".".join(str(part) for part in error["loc"]) or "body"
            problems.append(f"{field}: {error['msg'].lower()}")
        raise PayloadError("; ".join(problems)) from None

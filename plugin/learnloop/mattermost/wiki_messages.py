"""The channel post about a new or changed wiki page, with the rating buttons."""

from __future__ import annotations

from typing import Any

from learnloop.context import Service
from learnloop.domain.markdown import plain
from learnloop.mattermost.messages import content_attachment
from learnloop.services.wiki_ingest import AnnouncementPost, PageAnnouncement


def _what_changed(announcement: PageAnnouncement) -> str:
    who = ", ".join(plain(author) for author in announcement.authors[:3]) or "someone"
    if announcement.created:
        head = f"New page by {who}"
    else:
        edits = f"{announcement.edits} edits" if announcement.edits > 1 else "an update"
        head = f"Updated by {who} ({edits})"
    notes = [f"> {plain(summary)}" for summary in announcement.summaries if summary]
    return "\n".join([head, *notes])


def page_announcement_post(announcement: PageAnnouncement, *, public_url: str, key: bytes) -> dict[str, Any]:
    attachment = content_attachment(item_id=announcement.item_id, url=announcement.url, title=announcement.title,
                                    text=_what_changed(announcement), public_url=public_url, key=key)
    return {"channel_id": announcement.channel_id, "message": "", "props": {"attachments": [attachment]}}


def announcer(service: Service) -> AnnouncementPost:
    """How page announcements look in Mattermost, with this service's rating buttons."""
    return lambda announcement: page_announcement_post(announcement, public_url=service.settings.public_url_text,
                                                       key=service.signing_key)

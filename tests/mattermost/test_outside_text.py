"""Text from outside learnloop (a wiki's titles, edit summaries and user names, a reader's note) cannot make
links, images or headings in the bot's posts, nor mention anyone, and erasure still finds what it quotes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from learnloop.bootstrap import Runtime
from learnloop.domain.markdown import plain, unplain
from learnloop.mattermost.messages import describe_item
from learnloop.mattermost.wiki_messages import page_announcement_post
from learnloop.services.outbox_kinds import SEND_DM
from learnloop.services.wiki_ingest import PageAnnouncement

NASTY = ["@all Onboarding](https://evil.example/login) [x", "@channel urgent: re-login at [SSO](https://evil.example/sso)",
         "# Heading", "**bold** ![](https://evil.example/p.png) <b>", "a `code` ~strike~ | pipe \\ back"]


@pytest.mark.parametrize("text", NASTY)
def test_outside_text_is_shown_as_it_is_and_given_back_whole(text: str) -> None:
    shown = plain(text)
    assert unplain(shown) == text
    assert "](" not in shown.replace("\\](", "") and "[" not in shown.replace("\\[", "")
    assert "@all" not in shown and "@channel" not in shown


def test_a_title_cannot_end_its_link_nor_point_it_elsewhere() -> None:
    link = describe_item("https://wiki.example.com/Page_(draft)", NASTY[0])
    assert link.endswith("](https://wiki.example.com/Page_%28draft%29)")
    assert link.count("](") == 1 and "\\]\\(https://evil.example/login\\)" in link


def test_an_announcement_names_its_authors_and_quotes_their_summaries_as_plain_text() -> None:
    post = page_announcement_post(PageAnnouncement("c" * 26, 1, "https://wiki.example.com/P", "P", True, 1,
                                                   ["@here"], [NASTY[1]]), public_url="https://l.example", key=b"k")
    text = post["props"]["attachments"][0]["text"]
    assert text.startswith("New page by @\u2060here\n> @\u2060channel urgent")
    assert "[SSO](" not in text and "\\[SSO\\]\\(https" in text


def test_an_erased_note_is_found_in_the_owners_message_that_quotes_it_escaped(runtime: Runtime) -> None:
    note = "**ask** @carol (she knows)"
    with runtime.uow() as uow:
        uow.outbox.enqueue(SEND_DM, {"user_id": "b" * 26, "message": f"Notes:\n> {plain(note)}\n> other"}, key="r",
                           now=datetime(2026, 11, 2, tzinfo=UTC))
        uow.commit()
    with runtime.uow() as uow:
        assert uow.outbox.naming(["@carol"])
        assert uow.outbox.redact_quoting([note]) == 1
        uow.commit()
    with runtime.reader() as uow:
        [message] = uow.outbox.pending(SEND_DM)
    assert message.payload["message"] == "Notes:\n> (a note its writer has since erased)\n> other"

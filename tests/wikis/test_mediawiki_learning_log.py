"""A MediaWiki learning log that admins move or delete while learnloop publishes to it, against a real wiki."""

from __future__ import annotations

from learnloop.mediawiki.host import MediaWikiHost

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import Editor, needs_mediawiki, wiki_config

pytestmark = needs_mediawiki


def test_a_learning_log_moved_on_the_wiki_is_published_to_where_it_went(
        mediawiki: MediaWikiServer, mediawiki_editor: Editor) -> None:
    wiki, host = wiki_config(mediawiki), MediaWikiHost()
    host.publish(wiki, space="Category:Onboarding", page_title="Moved log", heading="2026-11-01 · Bob",
                 text="Before the move.", marker="learnloop-reflection-901")
    mediawiki_editor.move("Moved log", "Moved log 2026")  # an admin renames it; a redirect stays behind
    redirect = mediawiki_editor.wikitext("Moved log")

    published = host.publish(wiki, space="Category:Onboarding", page_title="Moved log", heading="2026-11-02 · Ann",
                             text="After the move.", marker="learnloop-reflection-902")

    assert (published.page_title, published.url) == ("Moved log 2026", f"{mediawiki.url}/wiki/Moved_log_2026")
    assert published.page_ref == str(mediawiki_editor.page_id("Moved log 2026"))
    assert mediawiki_editor.wikitext("Moved log") == redirect, "the redirect is left as it was"
    target = mediawiki_editor.wikitext("Moved log 2026")
    assert "Before the move." in target and "After the move." in target
    assert target.count("[[Category:Onboarding]]") == 1, "the page is in the category already"
    assert "After the move." in mediawiki_editor.rendered("Moved log 2026")
    again = host.publish(wiki, space="Category:Onboarding", page_title="Moved log", heading="2026-11-02 · Ann",
                         text="After the move.", marker="learnloop-reflection-902")
    assert again == published and mediawiki_editor.wikitext("Moved log 2026") == target, "a retry publishes once"

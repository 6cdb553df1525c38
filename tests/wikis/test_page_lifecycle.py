"""Pages are followed through their life, whatever the wiki: a moved page keeps its item (ratings, feedback,
events, score), a deleted page is retired (not rateable, out of top content, its ratings kept) until it comes
back, and a page that now lies in a mapped space joins that community with its rating totals."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from learnloop.bootstrap import Runtime, build_runtime
from learnloop.domain.scores import Prior, bayesian_average, community_prior
from learnloop.domain.wiki_events import WikiEvent
from learnloop.jobs.worker import Worker
from learnloop.mattermost.messages import rating_context
from learnloop.mattermost.signed_state import dialog_state
from learnloop.mattermost.wiki_messages import announcer
from learnloop.services import dashboard, wiki_ingest
from learnloop.services.rating import Rater, RetiredItem, rate_item, rate_url
from learnloop.storage.tables import ContentItem, Event, Feedback, ItemScore, Rating, ScoreBasis
from learnloop.wiring import create_app
from tests.conftest import FakeClock, make_settings
from tests.prompts.world import Person, click, slash, submit

ENGINEERING = "fukk3xq1bbn8fgmsiwh4xprwdh"
SALES = "q8o7d3g1rbbxzpq6yx9rnkbj3e"
WIKI = {"name": "handbook", "kind": "outline", "url": "https://outline.example.com", "secret": "s" * 32,
        "api_token": "ol_api_test"}
K = 3
BASE = "https://outline.example.com/doc/"


@pytest.fixture
def wiki_runtime(engine, clock: FakeClock) -> Runtime:
    communities = [
        {"name": "Engineering", "channel_id": ENGINEERING, "wiki_spaces": [{"wiki": "handbook", "space": "Eng"}]},
        {"name": "Sales", "channel_id": SALES, "wiki_spaces": [{"wiki": "handbook", "space": "Sales"}]},
    ]
    return build_runtime(make_settings(wikis=[WIKI], communities=communities, min_group_size=K), clock=clock,
                         engine=engine)


_serial = iter(range(1, 10_000))


def page_event(action: str = "updated", *, page: str = "p1", slug: str = "deploying-abc", title: str = "Deploying",
               spaces: tuple[str, ...] = ("Eng",), **changes: object) -> WikiEvent:
    event = WikiEvent(wiki="handbook", event_id=f"e{next(_serial)}", action=action, page_id=page, title=title,
                      url=BASE + slug, spaces=spaces, author="ann", summary=None,
                      occurred_at=datetime(2026, 11, 2, 9, 0, tzinfo=UTC))
    return replace(event, **changes)


def ingest(runtime: Runtime, *events: WikiEvent) -> list[wiki_ingest.IngestResult]:
    results = []
    for event in events:
        with runtime.uow() as uow:
            results.append(wiki_ingest.ingest(uow, runtime.settings, event, runtime.clock(),
                                              announcer(runtime)))
    return results


def rater(name: str, channel: str | None = ENGINEERING) -> Rater:
    return Rater(name.ljust(26, "0"), channel, channel_name="eng" if channel else None)


def rate(runtime: Runtime, name: str, url: str, stars: int, *, channel: str | None = ENGINEERING,
         comment: str | None = None) -> int:
    with runtime.uow() as uow:
        return rate_url(uow, runtime.settings, rater(name, channel), url, stars, comment, runtime.clock()).item_id


def items(runtime: Runtime) -> list[ContentItem]:
    with runtime.reader() as uow:
        return list(uow.session.scalars(select(ContentItem).order_by(ContentItem.id)))


def item(runtime: Runtime, item_id: int) -> ContentItem:
    with runtime.reader() as uow:
        found = uow.session.get(ContentItem, item_id)
        assert found is not None
        return found


def community(runtime: Runtime, channel: str) -> int:
    with runtime.reader() as uow:
        return uow.communities.by_channel(channel).id


def top(runtime: Runtime, channel: str) -> list[str]:
    with runtime.reader() as uow:
        return [entry.url for entry in dashboard.top_content(uow, community(runtime, channel), K)]


def fold(runtime: Runtime, clock: FakeClock) -> None:
    clock.advance(minutes=1)
    Worker(runtime).run_rollups()


def ratings_of(runtime: Runtime, item_id: int) -> tuple[int, int]:
    """(how many ratings, their stars) the item holds."""
    with runtime.reader() as uow:
        count, stars = uow.session.execute(select(func.count(), func.coalesce(func.sum(Rating.stars), 0))
                                           .where(Rating.item_id == item_id)).one()
    return int(count), int(stars)


def assert_shown_consistent(runtime: Runtime) -> None:
    """Every shown score sits with its item's community, is scored with that community's stored basis (the
    neutral prior outside any), and holds its item's ratings where none changed since it was released."""
    with runtime.reader() as uow:
        bases = {b.community_id: b.prior_mean for b in uow.session.scalars(select(ScoreBasis))}
        scores = list(uow.session.scalars(select(ItemScore)))
        assert scores, "a shown score to check"
        for score in scores:
            owner = uow.session.get(ContentItem, score.item_id)
            assert owner is not None and score.community_id == owner.community_id
            prior = Prior(bases[score.community_id]) if score.community_id is not None else community_prior(0, 0)
            assert score.score == pytest.approx(bayesian_average(score.stars_sum, score.ratings_count, prior))
            changed = uow.session.scalar(select(func.count()).select_from(Rating).where(
                Rating.item_id == score.item_id, Rating.updated_at > score.released_through))
            if not changed:
                assert ratings_of(runtime, score.item_id) == (score.ratings_count, score.stars_sum)


# ------------------------------------------------------------------------------ moves

def test_a_moved_page_keeps_its_item_ratings_feedback_events_and_score(wiki_runtime: Runtime,
                                                                       clock: FakeClock) -> None:
    [created] = ingest(wiki_runtime, page_event("created"))
    for n, stars in enumerate((5, 4, 5)):
        rate(wiki_runtime, f"user{n}", BASE + "deploying-abc", stars, comment="the rollback part" if n == 0 else None)
    fold(wiki_runtime, clock)
    assert top(wiki_runtime, ENGINEERING) == [BASE + "deploying-abc"]

    [moved] = ingest(wiki_runtime, page_event("moved", slug="deploying-safely-abc", title="Deploying safely"))

    [page] = items(wiki_runtime)
    assert moved.item_id == created.item_id == page.id
    assert (page.url, page.title, page.page_ref, page.wiki) == (BASE + "deploying-safely-abc", "Deploying safely",
                                                               "p1", "handbook")
    assert ratings_of(wiki_runtime, page.id) == (3, 14) and page.retired_at is None
    assert top(wiki_runtime, ENGINEERING) == [BASE + "deploying-safely-abc"], "its stored score followed"
    assert rate(wiki_runtime, "user3", BASE + "deploying-safely-abc", 4) == page.id, "rated at its new URL"
    with wiki_runtime.reader() as uow:
        assert [f.item_id for f in uow.session.scalars(select(Feedback))] == [page.id]
        kinds = [e.kind for e in uow.session.scalars(select(Event).where(Event.item_id == page.id)
                                                      .order_by(Event.id))]
    assert kinds == ["wiki_page_created", "rating", "rating", "rating", "wiki_page_moved", "rating"]
    assert_shown_consistent(wiki_runtime)


def test_any_event_with_a_new_url_moves_the_page_and_a_replayed_move_changes_nothing(wiki_runtime: Runtime) -> None:
    """Outline changes a document's URL with its title (a plain update); the item follows it all the same."""
    first = page_event("created")
    renamed = page_event("updated", slug="renamed-abc", title="Renamed")
    ingest(wiki_runtime, first, renamed)
    again = replace(first, action="moved")  # an old event id delivered again: a duplicate, whatever it says
    assert ingest(wiki_runtime, replace(again, event_id=first.event_id))[0].duplicate
    [page] = items(wiki_runtime)
    assert (page.url, page.title) == (BASE + "renamed-abc", "Renamed")


def test_an_item_from_before_page_ids_is_found_by_its_url_or_its_url_before_the_move(wiki_runtime: Runtime) -> None:
    old = rate(wiki_runtime, "ann", BASE + "intro-abc", 4)  # rated in chat before learnloop knew the page
    with_id = rate(wiki_runtime, "bob", BASE + "faq-abc", 5)
    assert item(wiki_runtime, old).page_ref is None

    ingest(wiki_runtime, page_event("moved", page="p7", slug="introduction-abc", title="Introduction",
                                    old_url=BASE + "intro-abc"))
    ingest(wiki_runtime, page_event("updated", page="p8", slug="faq-abc", title="FAQ"))

    assert [(i.id, i.url, i.page_ref, i.kind) for i in items(wiki_runtime)] == [
        (old, BASE + "introduction-abc", "p7", "wiki_page"), (with_id, BASE + "faq-abc", "p8", "wiki_page")], \
        "wiki pages from then on (their owners are reminded to review them)"
    assert ratings_of(wiki_runtime, old) == (1, 4)


def test_a_move_onto_the_url_of_another_item_sets_that_item_aside_with_its_ratings(wiki_runtime: Runtime) -> None:
    """The page's item keeps the page (its ratings were given to it); the item that sat at the new URL (rated
    there while that URL showed something else) is retired under a URL nobody can rate, its ratings kept."""
    ingest(wiki_runtime, page_event("created"))
    page = rate(wiki_runtime, "ann", BASE + "deploying-abc", 5)
    squatter = rate(wiki_runtime, "bob", BASE + "release-abc", 2)

    ingest(wiki_runtime, page_event("moved", slug="release-abc", title="Release"))

    moved, aside = item(wiki_runtime, page), item(wiki_runtime, squatter)
    assert moved.url == BASE + "release-abc" and moved.retired_at is None
    assert aside.url == f"{BASE}release-abc#learnloop-retired-{squatter}" and aside.retired_at is not None
    assert ratings_of(wiki_runtime, squatter) == (1, 2)
    assert rate(wiki_runtime, "cy", BASE + "release-abc", 4) == page, "the URL now rates the page"


def test_another_page_set_aside_comes_back_with_its_own_next_event(wiki_runtime: Runtime) -> None:
    ingest(wiki_runtime, page_event("created", page="p1", slug="a-abc"),
           page_event("created", page="p2", slug="b-abc"))
    # Learnloop missed p2's move away; p1 moves to where p2 was.
    ingest(wiki_runtime, page_event("moved", page="p1", slug="b-abc"))
    first, second = items(wiki_runtime)
    assert second.retired_at is not None and "#learnloop-retired-" in second.url
    ingest(wiki_runtime, page_event("updated", page="p2", slug="c-abc"))
    second = item(wiki_runtime, second.id)
    assert (second.url, second.retired_at, second.page_ref) == (BASE + "c-abc", None, "p2")
    assert item(wiki_runtime, first.id).url == BASE + "b-abc"


# ------------------------------------------------------------------------------ deletions

def test_a_deleted_page_is_retired_refused_for_rating_and_out_of_top_content_until_restored(
        wiki_runtime: Runtime, clock: FakeClock) -> None:
    ingest(wiki_runtime, page_event("created"), page_event("created", page="p2", slug="other-abc", title="Other"))
    for n in range(3):
        rate(wiki_runtime, f"user{n}", BASE + "deploying-abc", 5)
        rate(wiki_runtime, f"user{n}", BASE + "other-abc", 3)
    fold(wiki_runtime, clock)
    assert top(wiki_runtime, ENGINEERING) == [BASE + "deploying-abc", BASE + "other-abc"]

    # Deleted: the wiki cannot say where the page was any more (no URL), its id is enough.
    ingest(wiki_runtime, page_event("deleted", url="", title="", spaces=()))
    page = items(wiki_runtime)[0]
    assert page.retired_at == clock.now and ratings_of(wiki_runtime, page.id) == (3, 15), "ratings stay"
    assert top(wiki_runtime, ENGINEERING) == [BASE + "other-abc"]
    with wiki_runtime.reader() as uow:
        assert uow.session.get(ItemScore, page.id) is not None, "its shown score stays, for when it comes back"
        assert dashboard.top_content(uow, community(wiki_runtime, ENGINEERING), K)[0].url == BASE + "other-abc"
    with pytest.raises(RetiredItem, match="deleted from the wiki"):
        rate(wiki_runtime, "user9", BASE + "deploying-abc", 4)
    with wiki_runtime.uow() as uow, pytest.raises(RetiredItem, match="deleted from the wiki"):
        rate_item(uow, wiki_runtime.settings, rater("user9"), page.id, 4, None, clock())
    rate(wiki_runtime, "user9", BASE + "other-abc", 4)  # a rating folded while the page is retired
    fold(wiki_runtime, clock)
    assert top(wiki_runtime, ENGINEERING) == [BASE + "other-abc"], "the fold does not rank it again"

    ingest(wiki_runtime, page_event("restored"))
    assert item(wiki_runtime, page.id).retired_at is None
    assert top(wiki_runtime, ENGINEERING) == [BASE + "deploying-abc", BASE + "other-abc"]
    assert rate(wiki_runtime, "user9", BASE + "deploying-abc", 4) == page.id
    assert_shown_consistent(wiki_runtime)


def test_any_later_event_of_a_deleted_page_brings_it_back(wiki_runtime: Runtime) -> None:
    ingest(wiki_runtime, page_event("created"), page_event("deleted"))
    assert items(wiki_runtime)[0].retired_at is not None
    ingest(wiki_runtime, page_event("updated"))
    assert items(wiki_runtime)[0].retired_at is None


def test_a_read_from_before_the_deletion_that_lands_after_it_does_not_bring_the_page_back(
        wiki_runtime: Runtime) -> None:
    """Fetches run side by side: an edit's fetch can read the page just before it is deleted and be recorded just
    after the deletion's. Its edit is older than the deletion, so the page stays deleted; a newer one restores."""
    edited = datetime(2026, 11, 2, 9, 4, tzinfo=UTC)
    ingest(wiki_runtime, page_event("created"), page_event("deleted", occurred_at=edited + timedelta(minutes=1)))
    ingest(wiki_runtime, page_event("updated", occurred_at=edited))
    assert items(wiki_runtime)[0].retired_at is not None
    ingest(wiki_runtime, page_event("updated", occurred_at=edited + timedelta(minutes=2)))
    assert items(wiki_runtime)[0].retired_at is None


def test_a_deletion_read_before_a_restore_that_lands_after_it_does_not_retire_the_page(
        wiki_runtime: Runtime) -> None:
    """The other way round: the deletion's fetch loses the race to the restore's. The page is live; a deletion
    newer than the restore retires it."""
    deleted = datetime(2026, 11, 2, 9, 4, tzinfo=UTC)
    ingest(wiki_runtime, page_event("created"), page_event("deleted", occurred_at=deleted),
           page_event("restored", occurred_at=deleted + timedelta(minutes=2)))
    assert items(wiki_runtime)[0].retired_at is None
    ingest(wiki_runtime, page_event("deleted", occurred_at=deleted + timedelta(minutes=1)))
    assert items(wiki_runtime)[0].retired_at is None
    ingest(wiki_runtime, page_event("deleted", occurred_at=deleted + timedelta(minutes=3)))
    assert items(wiki_runtime)[0].retired_at is not None


def test_a_deletion_of_a_page_learnloop_never_had_records_nothing(wiki_runtime: Runtime) -> None:
    [result] = ingest(wiki_runtime, page_event("deleted", page="p404", url="", title=""))
    assert result.item_id is None and items(wiki_runtime) == []


def test_a_new_page_under_a_deleted_pages_url_starts_afresh(wiki_runtime: Runtime) -> None:
    """The wiki says it is another page (another id): the deleted page's ratings stay with the deleted page."""
    ingest(wiki_runtime, page_event("created"))
    old = rate(wiki_runtime, "ann", BASE + "deploying-abc", 1)
    ingest(wiki_runtime, page_event("deleted"), page_event("created", page="p2"))
    new = rate(wiki_runtime, "bob", BASE + "deploying-abc", 5)
    assert new != old
    assert item(wiki_runtime, new).page_ref == "p2" and ratings_of(wiki_runtime, new) == (1, 5)
    assert item(wiki_runtime, old).retired_at is not None and ratings_of(wiki_runtime, old) == (1, 1)


def test_chat_the_rating_page_and_buttons_say_the_page_was_deleted(wiki_runtime: Runtime) -> None:
    client: FlaskClient = create_app(wiki_runtime).test_client()
    ingest(wiki_runtime, page_event("created"), page_event("deleted"))
    [page] = items(wiki_runtime)
    ann = Person("ann")

    reply = slash(client, ann, f"rate {BASE}deploying-abc 4", channel=ENGINEERING)["text"]
    assert f"{BASE}deploying-abc was deleted from the wiki, so it can no longer be rated" in reply

    button = click(client, ann, rating_context(page.id, 4, wiki_runtime.signing_key)).get_json()
    assert button["ephemeral_text"] == "This page was deleted from its wiki, so it can no longer be rated."

    state = dialog_state("rate", ann.id, wiki_runtime.signing_key, team_id="", channel_name="engineering",
                         response_url="")
    form = submit(client, ann, "rate", state, {"url": f"{BASE}deploying-abc", "stars": "4"}, channel=ENGINEERING)
    assert form.status_code == 200
    assert form.get_json() == {"errors": {"url": f"{BASE}deploying-abc was deleted from the wiki, so it can no "
                                                 "longer be rated"}}, "the form stays open and says why"
    with wiki_runtime.reader() as uow:
        assert uow.session.scalars(select(Rating)).all() == []


# ------------------------------------------------------------------------------ communities

def test_a_page_that_moves_into_another_mapped_space_joins_that_community_with_its_totals(
        wiki_runtime: Runtime, clock: FakeClock) -> None:
    ingest(wiki_runtime, page_event("created"), page_event("created", page="p2", slug="kept-abc", title="Kept"))
    for n, stars in enumerate((5, 5, 4)):
        rate(wiki_runtime, f"user{n}", BASE + "deploying-abc", stars, comment=f"note {n}")
        rate(wiki_runtime, f"user{n}", BASE + "kept-abc", 2)
    rate(wiki_runtime, "seller", "https://sales.example.com/deck", 3, channel=SALES)
    with wiki_runtime.uow() as uow:
        resolved = uow.session.scalars(select(Feedback).where(Feedback.comment == "note 2")).one()
        resolved.status = "resolved"
        uow.commit()
    fold(wiki_runtime, clock)
    eng, sales = community(wiki_runtime, ENGINEERING), community(wiki_runtime, SALES)
    assert top(wiki_runtime, ENGINEERING) == [BASE + "deploying-abc", BASE + "kept-abc"]

    ingest(wiki_runtime, page_event("moved", spaces=("Sales",)))

    page = items(wiki_runtime)[0]
    assert page.community_id == sales
    with wiki_runtime.reader() as uow:
        assert uow.rollups.shown_totals({eng, sales}, K) == {eng: (6, 3), sales: (14, 3)}, \
            "the page's shown score counts in its new community's mean (the deck's one rating shows nowhere)"
        feedback = {f.comment: f.community_id for f in uow.session.scalars(select(Feedback))}
        score = uow.session.get(ItemScore, page.id)
    assert feedback == {"note 0": sales, "note 1": sales, "note 2": eng}, "open feedback goes to the new owners"
    assert score is not None and score.community_id == sales
    assert top(wiki_runtime, ENGINEERING) == [BASE + "kept-abc"]
    assert top(wiki_runtime, SALES) == [BASE + "deploying-abc"]
    assert_shown_consistent(wiki_runtime)
    fold(wiki_runtime, clock)  # the fold that follows agrees
    assert top(wiki_runtime, SALES) == [BASE + "deploying-abc"]
    assert_shown_consistent(wiki_runtime)


def test_a_page_added_to_a_mapped_space_later_joins_and_leaving_every_mapped_space_keeps_it(
        wiki_runtime: Runtime) -> None:
    ingest(wiki_runtime, page_event("created", spaces=("Drafts",)))
    page = rate(wiki_runtime, "ann", BASE + "deploying-abc", 4, channel=None)  # from the wiki page itself
    assert item(wiki_runtime, page).community_id is None

    ingest(wiki_runtime, page_event("updated", spaces=("Drafts", "Eng")))
    assert item(wiki_runtime, page).community_id == community(wiki_runtime, ENGINEERING)
    ingest(wiki_runtime, page_event("updated", spaces=("Drafts",)))
    assert item(wiki_runtime, page).community_id == community(wiki_runtime, ENGINEERING), \
        "a page only joins: out of every mapped space it stays where it was rated"


def test_a_page_trashed_then_purged_is_deleted_once(wiki_runtime: Runtime) -> None:
    """Outline's documents.delete, then documents.permanent_delete: one deletion in the page's history; a
    deletion after a restore is another."""
    ingest(wiki_runtime, page_event("created"))
    first, purged = ingest(wiki_runtime, page_event("deleted"), page_event("deleted", url="", title="", spaces=()))
    assert not first.duplicate and purged.duplicate and purged.item_id == first.item_id
    ingest(wiki_runtime, page_event("restored"), page_event("deleted"))
    with wiki_runtime.reader() as uow:
        kinds = [event.kind for event in uow.events.of_kind("wiki_page_deleted")]
    assert kinds == ["wiki_page_deleted", "wiki_page_deleted"]
    assert items(wiki_runtime)[0].retired_at is not None

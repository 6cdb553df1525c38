"""One use case, one transaction: a unit of work hands out repositories over one Session."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from learnloop.storage.community_joins import JoinStore
from learnloop.storage.dashboard_reads import DashboardReads
from learnloop.storage.network_store import NetworkStore
from learnloop.storage.outbox import Outbox
from learnloop.storage.page_store import PageStore
from learnloop.storage.personal_records import PersonalRecords
from learnloop.storage.prompt_repositories import (
    DeliveryRepository,
    MemberRepository,
    ReflectionRepository,
    RunRepository,
    ScheduleRepository,
)
from learnloop.storage.repositories import (
    AnnouncementRepository,
    CommunityRepository,
    ContentRepository,
    CursorRepository,
    EventLog,
    FeedbackRepository,
    LinkRepository,
    RatingRepository,
    SecretRepository,
)
from learnloop.storage.rollup_store import RollupStore


class UnitOfWork:
    """Commits only when told to; leaving it rolls back anything not committed. Work after a commit is a
    new transaction."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions

    def __enter__(self) -> UnitOfWork:
        session = self.session = self._sessions()
        self.secrets = SecretRepository(session)
        self.communities = CommunityRepository(session)
        self.items = ContentRepository(session)
        self.ratings = RatingRepository(session)
        self.feedback = FeedbackRepository(session)
        self.events = EventLog(session)
        self.outbox = Outbox(session)
        self.members = MemberRepository(session)
        self.schedules = ScheduleRepository(session)
        self.runs = RunRepository(session)
        self.deliveries = DeliveryRepository(session)
        self.reflections = ReflectionRepository(session)
        self.cursors = CursorRepository(session)
        self.links = LinkRepository(session)
        self.announcements = AnnouncementRepository(session)
        self.rollups = RollupStore(session)
        self.dashboards = DashboardReads(session)
        self.network = NetworkStore(session)
        self.joins = JoinStore(session)
        self.pages = PageStore(session)
        self.personal = PersonalRecords(session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        self.session.rollback()

    def flush(self) -> None:
        self.session.flush()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)

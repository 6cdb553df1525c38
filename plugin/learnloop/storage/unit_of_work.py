"""One use case, one transaction: a unit of work hands out repositories over one connection (storage.transaction)."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session

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
from learnloop.storage.transaction import Transaction


class UnitOfWork:
    """Commits only when told to; leaving it rolls back anything not committed. Work after a commit is a
    new transaction."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __enter__(self) -> UnitOfWork:
        tx = self._tx = Transaction(self._engine)
        self.secrets = SecretRepository(tx)
        self.communities = CommunityRepository(tx)
        self.items = ContentRepository(tx)
        self.ratings = RatingRepository(tx)
        self.feedback = FeedbackRepository(tx)
        self.events = EventLog(tx)
        self.outbox = Outbox(tx)
        self.members = MemberRepository(tx)
        self.schedules = ScheduleRepository(tx)
        self.runs = RunRepository(tx)
        self.deliveries = DeliveryRepository(tx)
        self.reflections = ReflectionRepository(tx)
        self.cursors = CursorRepository(tx)
        self.links = LinkRepository(tx)
        self.announcements = AnnouncementRepository(tx)
        self.rollups = RollupStore(tx)
        self.dashboards = DashboardReads(tx)
        self.network = NetworkStore(tx)
        self.joins = JoinStore(tx)
        self.pages = PageStore(tx)
        self.personal = PersonalRecords(tx)
        return self

    @property
    def session(self) -> Session:
        """The ORM's Session on the unit of work's connection (made on first use)."""
        return self._tx.session

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tx.close()

    def commit(self) -> None:
        self._tx.commit()

    def rollback(self) -> None:
        self._tx.rollback()

    def flush(self) -> None:
        self._tx.flush()


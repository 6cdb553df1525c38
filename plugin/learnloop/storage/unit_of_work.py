"""One use case, one transaction: a unit of work hands out repositories over one session."""

from __future__ import annotations

from types import TracebackType

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from learnloop.storage.prompt_repositories import (
    DeliveryRepository,
    MemberRepository,
    ReflectionRepository,
    RunRepository,
    ScheduleRepository,
)
from learnloop.storage.repositories import (
    CommunityRepository,
    ContentRepository,
    CursorRepository,
    EventLog,
    FeedbackRepository,
    KnownRows,
    Outbox,
    RatingRepository,
    SecretRepository,
)
from learnloop.storage.transaction import Transaction


class UnitOfWork:
    """Commits only when told to; leaving it rolls back anything not committed."""

    def __init__(self, engine: Engine, sessions: sessionmaker[Session], known: KnownRows | None = None) -> None:
        self._engine = engine
        self._sessions = sessions
        self._known = known if known is not None else KnownRows()

    def __enter__(self) -> UnitOfWork:
        tx = self.transaction = Transaction(self._engine, self._sessions)
        self.secrets = SecretRepository(tx)
        self.communities = CommunityRepository(tx, self._known)
        self.items = ContentRepository(tx, self._known)
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
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.transaction.close()

    @property
    def session(self) -> Session:
        """The ORM view of this unit of work's transaction."""
        return self.transaction.session

    def commit(self) -> None:
        self.transaction.commit()

    def flush(self) -> None:
        self.transaction.flush()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)

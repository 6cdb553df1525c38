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
    Outbox,
    RatingRepository,
    SecretRepository,
)


class UnitOfWork:
    """Commits only when told to; closing the session on exit rolls back anything not committed."""

    def __init__(self, session_factory: sessionmaker[Session],
                 known_communities: dict[tuple[str, str], int] | None = None) -> None:
        self._session_factory = session_factory
        self._known_communities = known_communities

    def __enter__(self) -> UnitOfWork:
        self.session = self._session_factory()
        self.secrets = SecretRepository(self.session)
        self.communities = CommunityRepository(self.session, self._known_communities)
        self.items = ContentRepository(self.session)
        self.ratings = RatingRepository(self.session)
        self.feedback = FeedbackRepository(self.session)
        self.events = EventLog(self.session)
        self.outbox = Outbox(self.session)
        self.members = MemberRepository(self.session)
        self.schedules = ScheduleRepository(self.session)
        self.runs = RunRepository(self.session)
        self.deliveries = DeliveryRepository(self.session)
        self.reflections = ReflectionRepository(self.session)
        self.cursors = CursorRepository(self.session)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.session.close()

    def commit(self) -> None:
        self.session.commit()

    def flush(self) -> None:
        self.session.flush()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)

"""Fixtures of the install tests: the real MediaWiki (one per session, as in tests/wikis)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.wikis.mediawiki_server import MediaWikiServer
from tests.wikis.mediawiki_support import running_mediawiki


@pytest.fixture(scope="session")
def mediawiki() -> Iterator[MediaWikiServer]:
    yield from running_mediawiki()

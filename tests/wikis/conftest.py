"""One real MediaWiki per test session for the wiki tests that need it (started on first use)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .mediawiki_server import MediaWikiServer
from .mediawiki_support import Editor, running_mediawiki


@pytest.fixture(scope="session")
def mediawiki() -> Iterator[MediaWikiServer]:
    yield from running_mediawiki()


@pytest.fixture(scope="session")
def mediawiki_editor(mediawiki: MediaWikiServer) -> Editor:
    return Editor(mediawiki)

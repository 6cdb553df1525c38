"""Every inbound route the fuzz suite covers, with the strategy that writes its cases."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import strategies as st

from tests.fuzz import mattermost_cases, page_cases, wiki_cases
from tests.fuzz.cases import Case

Cases = Callable[[str], st.SearchStrategy[Case]]
"""The cases of a route, given the Mattermost address learnloop is configured with (a response_url must name it)."""

ROUTES: dict[str, Cases] = {
    "/mattermost/command": mattermost_cases.command_cases,
    "/mattermost/actions": mattermost_cases.action_cases,
    "/mattermost/dialogs": mattermost_cases.dialog_cases,
    "/mattermost/outgoing": mattermost_cases.outgoing_cases,
    "/wiki/mediawiki": lambda _: wiki_cases.mediawiki_cases(),
    "/wiki/outline": lambda _: wiki_cases.outline_cases(),
    "/wiki/bookstack": lambda _: wiki_cases.bookstack_cases(),
    "/signin": lambda _: page_cases.link_cases("signin"),
    "/mydata": lambda _: page_cases.link_cases("mydata"),
    "/rate": lambda _: page_cases.rate_cases(),
    "/dashboard": lambda _: page_cases.dashboard_cases(),
    "/privacy": lambda _: page_cases.static_cases("/privacy"),
    "/widget.js": lambda _: page_cases.static_cases("/widget.js"),
}

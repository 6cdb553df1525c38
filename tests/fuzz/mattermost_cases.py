"""Cases for Mattermost's four routes, grown from the recorded requests in tests/fixtures/mattermost.

Button contexts and dialog states are signed with the service's key (as learnloop signs them when it hands
them out), so most cases get past the door and reach the handlers; some are then replayed into another
dialog or by another person, or tampered with, and those must be refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from hypothesis import strategies as st

from learnloop.domain import signing
from learnloop.mattermost.signed_state import button_context, dialog_state
from learnloop.services.reflections import handle_of
from learnloop.wiring import commands
from tests.fuzz import values, world
from tests.fuzz.cases import FORM, JSON, Case, form_body, headers_with, hostile_body, hostile_fields, json_body

FIXTURES = Path(__file__).parent.parent / "fixtures" / "mattermost"
COMMAND, ACTIONS, DIALOGS, OUTGOING = "/mattermost/command", "/mattermost/actions", "/mattermost/dialogs", \
    "/mattermost/outgoing"
REGISTRY = commands()
ACTION_NAMES = sorted(REGISTRY.actions)
DIALOG_IDS = sorted(REGISTRY.dialogs)
OWNER_DIALOGS = frozenset({"prompt_setup", "prompt_event", "seed"})
SUBCOMMANDS = sorted(REGISTRY.subcommands)


def _form(name: str) -> dict[str, Any]:
    return dict(parse_qsl((FIXTURES / name).read_text().strip(), keep_blank_values=True))


def _json(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def users() -> st.SearchStrategy[str]:
    return st.sampled_from(world.USERS)


def response_urls(mattermost_url: str) -> st.SearchStrategy[str]:
    return st.sampled_from([f"{mattermost_url}/hooks/commands/fuzz0000000000000000000001", "",
                            "http://elsewhere.example/hooks/commands/x", f"{mattermost_url}/api/v4/posts",
                            f"{mattermost_url}/hooks/commands/\nInjected"])


def _words(*choices: list[str]) -> st.SearchStrategy[str]:
    return values.mostly(st.one_of(*(st.sampled_from(choice) for choice in choices)), values.atom(), 20)


@st.composite
def command_text(draw: st.DrawFn) -> str:
    """`/learn ...` as people type it, and as they should not."""
    name = draw(values.mostly(st.sampled_from(SUBCOMMANDS + ["", "RATE", "nope"]), values.atom(), 10))
    args: list[str] = []
    if name in ("rate", "RATE"):
        args = draw(st.lists(_words(values.URLS, values.NUMBERS, values.ODD_DIGITS), max_size=3))
    elif name == "share":
        args = draw(st.lists(_words(values.URLS), max_size=2))
    elif name == "prompts":
        word = draw(_words(["", "off", "on", "pause", "resume", "time", "quiet", "nudges", "setup", "event", "stop"]))
        rest = draw(_words(values.AMOUNTS, values.TIMES, ["22:00-07:00", "off", "23:00–23:00", "7-8"],
                           values.NUMBERS, values.ODD_DIGITS, ["9" * 30, "9" * 5000]))
        args = [word, rest]
    elif name in ("mydata", "wiki"):
        args = draw(st.lists(_words(["delete", "announce", "new_pages", "digest_only"]), max_size=2))
    elif name in ("community", "digest", "recognition", "seed", "pages"):
        args = draw(st.lists(_words(["join", "leave", "~fuzzers", "~town-square", "~", "on", "off", "preview", "me",
                                     "fri", "09:00", "mon", "25:00", "owner", "interval", "@ann", "@", "90d"],
                                    values.TIMES, values.URLS), max_size=4))
    elif name == "reflect":
        args = [draw(values.nasty_text())]
    else:
        args = draw(st.lists(values.atom(), max_size=2))
    separator = draw(st.sampled_from([" ", " ", "  ", "\t", "\n", "\u00a0"]))
    return separator.join([name, *args])


@st.composite
def command_cases(draw: st.DrawFn, mattermost_url: str) -> Case:
    base = _form(draw(st.sampled_from(sorted(p.name for p in FIXTURES.glob("slash_command__*.form")))))
    token = draw(values.mostly(st.just(world.COMMAND_TOKEN),
                               st.sampled_from([world.WEBHOOK_TOKEN, "", "wrong", world.COMMAND_TOKEN + " "]), 15))
    fields = {**base, "token": token, "user_id": draw(users()), "channel_id": draw(st.sampled_from(world.CHANNELS)),
              "team_id": world.TEAM, "response_url": draw(response_urls(mattermost_url)), "text": draw(command_text())}
    fields, note = draw(hostile_fields(fields, json_types=False, protected=frozenset({"token"})))
    header = draw(values.mostly(st.just("same"), st.sampled_from(["none", "wrong", "bearer"]), 15))
    authorization = {"same": f"Token {token}", "wrong": "Token wrong", "bearer": f"Bearer {token}"}.get(header)
    extra = (("Authorization", authorization),) if authorization else ()
    refused = token != world.COMMAND_TOKEN or header == "wrong"
    how = draw(values.mostly(st.just("form"), st.sampled_from(["get", "json"]), 25))
    if how == "get":
        return Case(COMMAND, "GET", f"{COMMAND}?{form_body(fields).decode()}", extra, must_refuse=refused,
                    note=f"GET; {note}")
    raw = form_body(fields) if how == "form" else json_body(fields)
    body, content_type, mangled = draw(hostile_body(raw, FORM if how == "form" else JSON))
    return Case(COMMAND, "POST", COMMAND, headers_with(content_type, *extra), body, must_refuse=refused,
                note=f"{how}; {note}; {mangled}")


def row_ids(seeded: int) -> st.SearchStrategy[int]:
    """Ids of rows that the sender seeded (1 to `seeded`) most of the time, of rows made since or gone otherwise."""
    return values.mostly(st.sampled_from(range(1, seeded + 1)), st.integers(1, 60), 30)


def reflection_handles() -> st.SearchStrategy[object]:
    """Handles of the seeded reflections (1 to 6) as the service signs them, most of the time; else odd values."""
    return values.mostly(row_ids(6).map(lambda row: handle_of(row, world.SIGNING_KEY)),
                         st.none() | st.integers() | st.text(max_size=40), 30)


CONTEXT_VALUES: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "rate": st.fixed_dictionaries({"item_id": row_ids(4), "stars": st.integers(1, 5)}),
    "reflect_now": st.fixed_dictionaries({"delivery_id": st.integers(1, 40)}),
    "prompt_skip": st.fixed_dictionaries({"delivery_id": st.integers(1, 40)}),
    "prompt_snooze": st.fixed_dictionaries({"delivery_id": st.integers(1, 40)}),
    "reflection_share": st.fixed_dictionaries({"reflection": reflection_handles(),
                                               "visibility": st.sampled_from(["community", "wiki"])}),
    "journal_edit": st.fixed_dictionaries({"reflection": reflection_handles()}),
    "journal_delete": st.fixed_dictionaries({"reflection": reflection_handles()}),
    "thank": st.fixed_dictionaries({"item_id": row_ids(4)}),
    "page_reviewed": st.fixed_dictionaries({"item_id": row_ids(4)}),
    "page_not_mine": st.fixed_dictionaries({"item_id": row_ids(4)}),
    "suggestions_off": st.just({}),
    "recognition_off": st.just({}),
    "wiki_remove": st.fixed_dictionaries({"sections": st.lists(st.fixed_dictionaries({
        "wiki": st.sampled_from([world.MEDIAWIKI, world.OUTLINE, "gone"]), "page_ref": st.sampled_from(["12", "x"]),
        "marker": st.just("learnloop-reflection-1-abc"), "title": st.just("Learning log: Fuzzers"),
        "url": st.just("http://mediawiki.fuzz.example/wiki/Learning_log")}), min_size=1, max_size=3)}),
    "wiki_keep": st.fixed_dictionaries({"places": st.lists(st.fixed_dictionaries({
        "title": st.just("Learning log: Fuzzers"), "url": st.just("http://mediawiki.fuzz.example/wiki/Learning_log")}),
        min_size=1, max_size=3)}),
}
"""What learnloop puts in each button's context (tests/fuzz/test_generators.py: every registered button)."""
PERSONAL = frozenset(CONTEXT_VALUES) - {"rate", "thank"}
"""Buttons learnloop makes for one person (rating and thank-you buttons are for everyone in the channel)."""


@st.composite
def button_contexts(draw: st.DrawFn) -> tuple[dict[str, Any], str | None, str]:
    """A context as learnloop signs it, then perhaps tampered with: (context, person it is for, tampering)."""
    action = draw(st.sampled_from([*ACTION_NAMES, "future_feature"]))
    fields = draw(CONTEXT_VALUES.get(action, st.just({})))
    for_user = draw(users()) if action in PERSONAL else None
    context = button_context(action, world.SIGNING_KEY, for_user=for_user, **fields)
    tampering = st.sampled_from(["drop sig", "change", "bad sig", "sig type", "replace", "other key"])
    tamper = draw(values.mostly(st.just("none"), tampering, 15))
    if tamper == "drop sig":
        context.pop("sig")
    elif tamper == "change":
        context[draw(st.sampled_from(sorted(context)))] = draw(values.wrong_value())
    elif tamper == "bad sig":
        good = context["sig"]
        context["sig"] = draw(st.sampled_from(["", "AAAA", good[:-1] + "A", good + "\n", "é", "\u00ff" * 43]))
    elif tamper == "sig type":
        context["sig"] = draw(values.wrong_value().filter(lambda v: not isinstance(v, str)))
    elif tamper == "replace":
        return draw(values.wrong_value()), for_user, tamper
    elif tamper == "other key":
        context = button_context(action, b"another-service-key-0123456789abcdef", for_user=for_user, **fields)
    return context, for_user, tamper if tamper == "replace" or not _verifies(context) else "none"


def _verifies(context: Any) -> bool:
    """Whether a tampered context still carries a good signature (a change that changed nothing)."""
    try:
        signing.verify(context, world.SIGNING_KEY)
    except (signing.BadSignature, TypeError, ValueError):
        return False
    return True


@st.composite
def action_cases(draw: st.DrawFn, mattermost_url: str) -> Case:
    context, for_user, tamper = draw(button_contexts())
    clicker = draw(values.mostly(st.just(for_user), users(), 20) if for_user else users())
    fields = {**_json("action__rate_button.json"), "user_id": clicker,
              "channel_id": draw(st.sampled_from(world.CHANNELS)), "team_id": world.TEAM, "context": context}
    fields, note = draw(hostile_fields(fields, json_types=True, protected=frozenset({"context", "user_id"})))
    if draw(values.chance(5)):
        fields["user_id"] = draw(values.nasty_text())
        note += "; hostile user_id"
    refused = tamper != "none" or (for_user is not None and fields.get("user_id") != for_user)
    body, content_type, mangled = draw(hostile_body(json_body(fields, ascii_only=draw(st.booleans())), JSON))
    return Case(ACTIONS, "POST", ACTIONS, headers_with(content_type), body, must_refuse=refused,
                note=f"{context.get('action') if isinstance(context, dict) else '?'} for {for_user}, "
                     f"clicked by {clicker}; tamper {tamper}; {note}; {mangled}")


def _state_values(dialog: str, mattermost_url: str) -> st.SearchStrategy[dict[str, Any]]:
    return states(mattermost_url).get(dialog, st.just({}))


def states(mattermost_url: str) -> dict[str, st.SearchStrategy[dict[str, Any]]]:
    """What learnloop puts in each dialog's state when it opens it (tests/fuzz/test_generators.py: every
    registered dialog)."""
    response_url = response_urls(mattermost_url)
    owners = st.fixed_dictionaries({
        "channel_id": st.sampled_from(world.CHANNELS), "team_id": st.just(world.TEAM),
        "channel_name": st.just("fuzzers"), "timezone": st.sampled_from(["Europe/Berlin", "UTC"]),
        "response_url": response_url})
    return {
        "rate": st.fixed_dictionaries({"channel_name": st.sampled_from(["fuzzers", ""]), "team_id": st.just(world.TEAM),
                                       "response_url": response_url}),
        "prompt_setup": owners,
        "prompt_event": owners,
        "seed": owners,
        "reflect": st.fixed_dictionaries({"delivery_id": st.none() | st.integers(1, 40),
                                          "community_id": st.sampled_from([None, 1, 2]), "response_url": response_url}),
        "journal_edit": st.fixed_dictionaries({"reflection": reflection_handles()}),
        "journal_delete": st.fixed_dictionaries({"reflection": reflection_handles(), "response_url": st.none()}),
        "mydata_delete": st.fixed_dictionaries({"username": st.sampled_from(["ann", ""]),
                                                "response_url": response_url}),
    }


def _field(*choices: list[str]) -> st.SearchStrategy[Any]:
    return values.mostly(st.one_of(*(st.sampled_from(choice) for choice in choices)), values.nasty_text(), 35)


SUBMISSIONS: dict[str, dict[str, st.SearchStrategy[Any]]] = {
    "rate": {"url": _field(values.URLS), "stars": _field(["1", "2", "3", "4", "5"], values.NUMBERS, values.ODD_DIGITS),
             "comment": _field([""])},
    "prompt_setup": {"question1": _field(["What did you learn?"]), "question2": _field([""]),
                     "question3": _field([""]), "scale_question": _field(["", "How useful?"]),
                     "repeat": _field(values.SCHEDULES), "time": _field(values.TIMES), "window": _field(values.WINDOWS),
                     "timezone": _field(values.ZONES), "visibility": _field(values.WORDS)},
    "prompt_event": {"label": _field(["Training"]), "date": _field(values.DATES), "when": _field(values.WORDS),
                     "question_before": _field([""]), "question_after": _field([""]), "time": _field(values.TIMES),
                     "window": _field(values.WINDOWS), "visibility": _field(values.WORDS)},
    "reflect": {"answer1": _field(["I learnt to read plans first."]), "answer2": _field([""]), "answer3": _field([""]),
                "scale": _field(["1", "5", "", "²", "0", "6"]), "visibility": _field(values.WORDS)},
    "journal_edit": {"text": _field(["Edited."])},
    "seed": {"prompt": _field(["what_so_what", "after_event", "one_thing", "none"]), "repeat": _field(values.SCHEDULES),
             "time": _field(values.TIMES), "timezone": _field(values.ZONES), "visibility": _field(values.WORDS),
             "shelf": _field(["true", "false"]), "bookmarks": _field(["true", "false"])},
}


@st.composite
def submissions(draw: st.DrawFn, dialog: str) -> dict[str, Any]:
    elements = SUBMISSIONS.get(dialog, {})
    submission = {name: draw(strategy) for name, strategy in elements.items() if not draw(values.chance(5))}
    if draw(values.chance(10)) and elements:
        submission[draw(st.sampled_from(sorted(elements)))] = draw(values.wrong_value())
    return submission


@st.composite
def dialog_states(draw: st.DrawFn, callback_id: str, submitter: str, mattermost_url: str) -> tuple[Any, str]:
    """A state as learnloop signs it when the dialog opens, or replayed from another dialog or person, or
    tampered with: (state, how)."""
    how = draw(values.mostly(st.just("own"), st.sampled_from(["other dialog", "other person", "tampered", "hostile",
                                                               "not a string"]), 20))
    dialog = callback_id if callback_id in DIALOG_IDS else draw(st.sampled_from(DIALOG_IDS))
    if how == "other dialog":
        dialog = draw(st.sampled_from([d for d in DIALOG_IDS if d != callback_id]))
    opener = world.OWNER if dialog in OWNER_DIALOGS else submitter
    if how == "other person":
        opener = draw(st.sampled_from([u for u in world.USERS if u != submitter]))
    elif opener != submitter and how == "own":
        how = "other person"
    state = dialog_state(dialog, opener, world.SIGNING_KEY, **draw(_state_values(dialog, mattermost_url)))
    if how == "tampered":
        signed = state
        state = state.replace(draw(st.sampled_from(['"dialog"', '"user_id"', '"sig":"', "fuzzers", world.TEAM])),
                              draw(st.sampled_from(['"x"', "", '"sig":"A', "\\ud800", "fuzzer"])), 1)
        how = "tampered" if state != signed else "own"
    elif how == "hostile":
        state = draw(st.one_of(values.nasty_text(), values.deep().map(lambda raw: raw.text),
                               st.just('{"dialog":"rate","sig":"\\ud800"}')))
    elif how == "not a string":
        state = draw(values.wrong_value().filter(lambda v: not isinstance(v, str)))
    return state, how


@st.composite
def dialog_cases(draw: st.DrawFn, mattermost_url: str) -> Case:
    submitter = draw(users())
    callback_id = draw(st.sampled_from(DIALOG_IDS + ["unknown_dialog"]))
    state, how = draw(dialog_states(callback_id, submitter, mattermost_url))
    fields = {"type": "dialog_submission", "callback_id": callback_id, "state": state, "user_id": submitter,
              "channel_id": draw(st.sampled_from(world.CHANNELS)), "team_id": world.TEAM,
              "submission": draw(submissions(callback_id)), "cancelled": draw(values.chance(8))}
    fields, note = draw(hostile_fields(fields, json_types=True, protected=frozenset({"state", "user_id", "callback_id",
                                                                                     "cancelled"})))
    forged = how != "own" or callback_id not in DIALOG_IDS
    body, content_type, mangled = draw(hostile_body(json_body(fields, ascii_only=draw(st.booleans())), JSON))
    cancelled = fields["cancelled"] is True
    return Case(DIALOGS, "POST", DIALOGS, headers_with(content_type), body, must_refuse=forged and not cancelled,
                no_write=cancelled and not mangled,
                note=f"{callback_id} by {submitter}, state {how}; {note}; {mangled}")


@st.composite
def outgoing_cases(draw: st.DrawFn, mattermost_url: str) -> Case:
    how = draw(values.mostly(st.just("form"), st.just("json"), 35))
    base = (_form(draw(st.sampled_from(sorted(p.name for p in FIXTURES.glob("outgoing_webhook__*.form")))))
            if how == "form" else _json("outgoing_webhook__link_shared.json"))
    token = draw(values.mostly(st.just(world.WEBHOOK_TOKEN), st.sampled_from([world.COMMAND_TOKEN, "", "wrong"]), 15))
    text = " ".join(draw(st.lists(_words(values.URLS, ["@ann", "@all", "hello", "<https://a.example/b|b>"]),
                                  min_size=1, max_size=4)))
    fields = {**base, "token": token, "user_id": draw(st.sampled_from([*world.USERS, world.BOT_USER])),
              "channel_id": draw(st.sampled_from(world.CHANNELS)), "team_id": world.TEAM, "text": text,
              "timestamp": draw(st.sampled_from([1762074000123, 0, -1, 2**63, 10**30, 10**400, 1762074000]))}
    if how == "form":
        fields["timestamp"] = str(fields["timestamp"])
    fields, note = draw(hostile_fields(fields, json_types=how == "json", protected=frozenset({"token"})))
    raw = form_body(fields) if how == "form" else json_body(fields)
    body, content_type, mangled = draw(hostile_body(raw, FORM if how == "form" else JSON))
    return Case(OUTGOING, "POST", OUTGOING, headers_with(content_type), body,
                must_refuse=token != world.WEBHOOK_TOKEN, note=f"{how}; {note}; {mangled}")

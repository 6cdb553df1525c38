"""Reflecting: `/learn reflect`, the reflect dialog, the buttons on a prompt (reflect now, skip, snooze) and
the buttons that share or publish a private reflection afterwards."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from learnloop.mattermost.commands import CommandRegistry, Invocation, Reply
from learnloop.mattermost.context import Chat
from learnloop.mattermost.dialogs import open_dialog, open_for_button, value_of
from learnloop.mattermost.messages import ACTIONS_PATH, ephemeral
from learnloop.mattermost.payloads import ActionRequest, DialogSubmission, SlashCommand
from learnloop.mattermost.prompt_messages import REFLECT_NOW, SKIP, SNOOZE, shared_reflection_post
from learnloop.mattermost.reflection_words import CHOICES, NO_COMMUNITY, visibility_options, where_it_is
from learnloop.mattermost.replies import respond_later
from learnloop.mattermost.signed_state import button_context, dialog_state
from learnloop.services import reflections
from learnloop.services.communities import (
    channel_label,
    community_for_channel,
    current_community,
    is_direct_channel,
)
from learnloop.services.prompts import delivered
from learnloop.services.reflections import InvalidReflection, NotYours, ReflectionView, SharePost
from learnloop.storage.unit_of_work import UnitOfWork

REFLECT_DIALOG = "reflect"
SHARE_ACTION = "reflection_share"
WIKI_NEXT = ("It goes on your community's learning-log page in the wiki; learnloop sends you the link "
             "once it is there.")
FREE_QUESTIONS = [{"kind": "text", "text": "What did you learn?"}]
SCALE = ("1", "2", "3", "4", "5")
EARLIER_LINES = 12


def post_builder(chat: Chat) -> Callable[[SharePost], dict[str, Any]]:
    return lambda post: shared_reflection_post(post, public_url=chat.settings.public_url_text, key=chat.signing_key)


def publishable(chat: Chat, uow: UnitOfWork, community_id: int | None) -> bool:
    """Whether the community has a wiki space its members' reflections can be published to."""
    community = uow.communities.get(community_id) if community_id is not None else None
    configured = chat.settings.community_for_channel(community.channel_id) if community else None
    return bool(configured and configured.wiki_spaces)


def attribution_options(community_name: str | None) -> list[dict[str, str]]:
    """How a section on the wiki is headed: by the author's name (the default) or not."""
    member_of = f"“A member of {community_name}”" if community_name else "“A member of” your community"
    return [{"text": "With my name", "value": "name"}, {"text": f"Without my name ({member_of})", "value": "anonymous"}]


def community_name(chat: Chat, uow: UnitOfWork, community_id: int | None) -> str | None:
    community = uow.communities.get(community_id) if community_id is not None else None
    configured = chat.settings.community_for_channel(community.channel_id) if community else None
    return configured.name if configured else None


def shared_in(uow: UnitOfWork, community_id: int | None) -> str | None:
    """The channel a reflection shared with the community is posted in: the community's home channel."""
    community = uow.communities.get(community_id) if community_id is not None else None
    home = uow.communities.channel(community.channel_id) if community else None
    return channel_label(home) if home else None


def reflect_dialog(state: str, questions: list[dict[str, Any]], default_visibility: str,
                   can_publish: bool, community: str | None = None, *, can_share: bool = True,
                   event: str | None = None, earlier_answer: str | None = None,
                   channel: str | None = None) -> dict[str, Any]:
    """`earlier_answer`: after an event, the person's own answer from before it, read as the form opens (a form
    is not kept by Mattermost, a post is). `channel`: where a reflection shared with the community is posted."""
    elements: list[dict[str, Any]] = []
    for index, question in enumerate(q for q in questions if q["kind"] == "text"):
        elements.append({"display_name": f"Answer {index + 1}" if len(questions) > 1 else "Your reflection",
                         "name": f"answer{index + 1}", "type": "textarea", "optional": index > 0,
                         "help_text": question["text"][:150], "max_length": reflections.MAX_REFLECTION_LENGTH})
    for question in (q for q in questions if q["kind"] == "scale"):
        elements.append({"display_name": "On a scale of 1-5", "name": "scale", "type": "select", "optional": True,
                         "help_text": question["text"][:150], "options": [{"text": n, "value": n} for n in SCALE]})
    options = visibility_options(can_publish, can_share)
    default = default_visibility if default_visibility in [o["value"] for o in options] else "private"
    help_text = NO_COMMUNITY if not can_share else _posted_in(channel) if channel else None
    elements.append({"display_name": "Who sees this", "name": "visibility", "type": "radio", "default": default,
                     "options": options, **({"help_text": help_text} if help_text else {})})
    if can_publish:
        elements.append({"display_name": "On the wiki", "name": "attribution", "type": "radio", "default": "name",
                         "help_text": "If you publish it to the wiki: is its section headed with your name?",
                         "options": attribution_options(community)})
    asked = "\n".join(f"- {q['text']}" for q in questions)
    if earlier_answer:
        asked = f"Before {event or 'the event'} you wrote:\n{_quoted(earlier_answer)}\n\n{asked}"
    return {"callback_id": REFLECT_DIALOG, "title": "Reflect", "submit_label": "Save", "state": state,
            "introduction_text": asked, "elements": elements}


def _quoted(text: str) -> str:
    lines = text.splitlines()
    shown = lines[:EARLIER_LINES] + (["…"] if len(lines) > EARLIER_LINES else [])
    return "\n".join(f"> {line}" for line in shown)


def _posted_in(channel: str) -> str:
    return f"“{CHOICES['community']}” posts it in {channel}."


def _what_it_answers(chat: Chat, uow: UnitOfWork, request: SlashCommand,
                     now: datetime) -> tuple[delivered.PromptView | None, int | None]:
    """The open prompt `/learn reflect` answers, and the community the reflection belongs to. In a direct message:
    the open prompt and its community (none without one). In a channel: the channel's community, and the open
    prompt only if it is that community's; one from another community is not answered (nor shared) from here."""
    open_prompt = delivered.latest_open_prompt(uow, request.user_id, now)
    if is_direct_channel(request.channel_name):
        return open_prompt, open_prompt.community_id if open_prompt else None
    community_id = community_for_channel(uow, chat.settings, channel_id=request.channel_id,
                                         team_id=request.team_id or None, channel_name=request.channel_name or None,
                                         now=now)
    if open_prompt is not None and current_community(uow, open_prompt.community_id) != community_id:
        open_prompt = None
    return open_prompt, community_id


def reflect_command(invocation: Invocation) -> Reply:
    chat, request = invocation.chat, invocation.request
    now = chat.clock()
    with chat.uow() as uow:
        open_prompt, community_id = _what_it_answers(chat, uow, request, now)
        can_publish = publishable(chat, uow, community_id)
        community = community_name(chat, uow, community_id)
        channel = shared_in(uow, community_id)
        uow.commit()
    if not invocation.args:
        state = dialog_state(REFLECT_DIALOG, request.user_id, chat.signing_key,
                             delivery_id=open_prompt.delivery_id if open_prompt else None, community_id=community_id,
                             response_url=request.response_url, username=request.user_name or None)
        questions = open_prompt.questions if open_prompt else FREE_QUESTIONS
        form = reflect_dialog(state, questions, open_prompt.default_visibility if open_prompt else "private",
                              can_publish, community, can_share=community_id is not None,
                              event=open_prompt.event if open_prompt else None,
                              earlier_answer=delivered.earlier_answer(open_prompt, chat.signing_key)
                              if open_prompt else None, channel=channel)
        problem = open_dialog(chat, request.trigger_id, form)
        return ephemeral(problem + f" You can also type `{invocation.trigger} reflect <text>`.") if problem else {}
    try:
        with chat.uow() as uow:
            view = reflections.write(
                uow, user_id=request.user_id, author_name=request.user_name or None, text=invocation.args, scale=None,
                visibility="private", community_id=community_id,
                delivery_id=open_prompt.delivery_id if open_prompt else None, now=now, key=chat.signing_key,
                public_url=chat.settings.public_url_text, post_builder=post_builder(chat), can_publish=can_publish,
                prompt_post_id=open_prompt.post_id if open_prompt else None, answered_text=_answered_text)
    except InvalidReflection as exc:
        return ephemeral(f"Not saved: {exc}.")
    answered = " It answers your open prompt." if view.answers_prompt else ""
    said = "Already saved, nothing new was stored" if view.again else "Saved"
    return ephemeral(f"{said}: {_described(view)}.{answered}",
                     attachments=[share_buttons(chat, view, request.user_id, can_share=community_id is not None,
                                                 can_publish=can_publish, channel=channel)])


def share_buttons(chat: Chat, view: ReflectionView, user_id: str, *, can_share: bool,
                  can_publish: bool, channel: str | None = None) -> dict[str, Any]:
    """A private reflection's ways to share it, under `/learn reflect`'s reply and its journal entry; `channel`:
    where sharing posts it."""
    def button(name: str, visibility: str, attribution: str = "name") -> dict[str, Any]:
        return {"id": f"share{visibility}{attribution}", "type": "button", "name": name,
                "integration": {"url": chat.settings.public_url_text + ACTIONS_PATH, "context": button_context(
                    SHARE_ACTION, chat.signing_key, for_user=user_id,
                    reflection=reflections.handle_of(view.id, chat.signing_key), visibility=visibility,
                    attribution=attribution)}}

    actions = [button(CHOICES["community"], "community")] if can_share else []
    if can_share and can_publish:
        actions.append(button(f"{CHOICES['wiki']} with my name", "wiki"))
        actions.append(button(f"{CHOICES['wiki']} without my name", "wiki", "anonymous"))
    if not actions:  # written outside any community: nothing it could be shared with, now or later
        return {"fallback": "Your reflection is private.",
                "text": "Only you can see it, and it stays private: it belongs to no community. To share one, "
                        "type `/learn reflect` in your community's channel."}
    posted = f" ({_posted_in(channel)})" if channel else ""
    return {"fallback": "Your reflection is private.",
            "text": f"Only you can see it. Change your mind any time{posted}:", "actions": actions}


def handle_reflect(chat: Chat, submission: DialogSubmission, state: dict[str, Any]) -> Reply | None:
    values = submission.submission
    answers = [answer if reflections.has_text(answer) else "" for answer in
               (value_of(values, f"answer{n}") for n in (1, 2, 3))]
    questions: list[dict[str, Any]] = FREE_QUESTIONS
    delivery_id = state.get("delivery_id")
    community_id = state.get("community_id")
    prompt = None
    if delivery_id is not None:
        with chat.reader() as uow:
            prompt = delivered.prompt_for_delivery(uow, int(delivery_id), status=None)
        questions = prompt.questions if prompt else FREE_QUESTIONS
    texts = [q for q in questions if q["kind"] == "text"]
    if not answers[0]:
        return {"errors": {"answer1": "write at least a sentence, or close the form"}}
    body = answers[0] if len(texts) <= 1 else "\n\n".join(
        f"**{q['text']}**\n{a}" for q, a in zip(texts, answers, strict=False) if a)
    if len(texts) > 1 and len(body.strip()) > reflections.MAX_REFLECTION_LENGTH:  # each answer fits, all do not
        together = (f"your answers come to {len(body.strip())} characters together, with their questions; keep "
                    f"them to {reflections.MAX_REFLECTION_LENGTH} in all")
        return {"errors": {f"answer{n}": together for n, answer in enumerate(answers, start=1) if answer}}
    scale_text = value_of(values, "scale")
    if scale_text and scale_text not in SCALE:
        return {"errors": {"scale": "choose a whole number from 1 to 5"}}
    username = state.get("username")
    post_id = state.get("post_id") or (prompt.post_id if prompt else None)
    try:
        with chat.uow() as uow:
            community_id = current_community(uow, community_id)  # joined another since the form opened?
            view = reflections.write(
                uow, user_id=submission.user_id, author_name=username if isinstance(username, str) else None,
                text=body, attribution=value_of(values, "attribution") or "name",
                scale=int(scale_text) if scale_text else None,
                visibility=value_of(values, "visibility") or "private", community_id=community_id,
                delivery_id=int(delivery_id) if delivery_id is not None else None, now=chat.clock(),
                key=chat.signing_key, public_url=chat.settings.public_url_text, post_builder=post_builder(chat),
                can_publish=publishable(chat, uow, community_id), prompt_post_id=post_id,
                answered_text=_answered_text)
    except InvalidReflection as exc:
        return {"errors": {exc.field: str(exc)}}
    shown = view.answers_prompt and bool(post_id)
    said = "Already saved, nothing new was stored" if view.again else "Saved"
    respond_later(chat, state.get("response_url"), f"{said}: {_described(view)}.", key=f"reflected:{view.id}",
                  or_dm=None if shown else submission.user_id)
    return None


def _answered_text(view: ReflectionView) -> str:
    """The prompt's post, once answered: how, in place of its buttons."""
    return f"Answered: {_described(view)}".removesuffix(".") + ". `/learn journal` shows it."


def _described(view: ReflectionView) -> str:
    said = where_it_is(view.visibility, view.attribution, view.published_url)
    return f"{said}. {WIKI_NEXT}" if view.visibility == "wiki" and not view.published_url else said


def handle_reflect_now(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    try:
        with chat.uow() as uow:
            view = delivered.open_prompt(uow, int(context["delivery_id"]), request.user_id, chat.clock())
            can_publish = publishable(chat, uow, view.community_id)
            community = community_name(chat, uow, view.community_id)
            channel = shared_in(uow, current_community(uow, view.community_id))
    except delivered.NotYourPrompt as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}. `/learn reflect` writes a reflection any time."}
    state = dialog_state(REFLECT_DIALOG, request.user_id, chat.signing_key, delivery_id=view.delivery_id,
                         community_id=view.community_id, response_url=None, username=request.user_name or None,
                         post_id=request.post_id or None)
    return open_for_button(chat, request.trigger_id, reflect_dialog(
        state, view.questions, view.default_visibility, can_publish, community, event=view.event,
        earlier_answer=delivered.earlier_answer(view, chat.signing_key), channel=channel))


def _on_own_prompt(chat: Chat, request: ActionRequest, context: dict[str, Any],
                   change: Callable[[UnitOfWork, int, str, datetime], object], done: Callable[[Any], str]) -> Reply:
    """Skip and snooze: only the person the prompt was sent to, only while it is open or snoozed."""
    try:
        with chat.uow() as uow:
            changed = change(uow, int(context["delivery_id"]), request.user_id, chat.clock())
    except delivered.Snoozed as exc:
        return {"ephemeral_text": _snoozed_until(exc.until)}
    except delivered.NotYourPrompt as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}
    return {"ephemeral_text": done(changed)}


def _snoozed_until(until: str) -> str:
    return (f"Snoozed until {until}: learnloop asks again then. Until then *Reflect now* still answers it, and "
            "*Skip this one* lets it go.")


def handle_skip(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    return _on_own_prompt(chat, request, context, delivered.skip,
                          lambda _: "Skipped. No one is told; see you next time.")


def handle_snooze(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    return _on_own_prompt(chat, request, context, delivered.snooze, _snoozed_until)


def handle_share(chat: Chat, request: ActionRequest, context: dict[str, Any]) -> Reply:
    try:
        with chat.uow() as uow:
            own = reflections.own_id(uow, request.user_id, context.get("reflection"), chat.signing_key)
            owned = reflections.read_own(uow, request.user_id, own, chat.signing_key)
            view = reflections.change_visibility(
                uow, user_id=request.user_id, reflection_id=owned.id, visibility=str(context["visibility"]),
                author_name=request.user_name or None, now=chat.clock(), key=chat.signing_key,
                public_url=chat.settings.public_url_text, post_builder=post_builder(chat),
                can_publish=publishable(chat, uow, owned.community_id),
                attribution=str(context.get("attribution") or "name"))
    except (NotYours, InvalidReflection) as exc:
        return {"ephemeral_text": f"{str(exc).capitalize()}."}
    return {"ephemeral_text": f"Done: {_described(view)}."}


def register(commands: CommandRegistry) -> None:
    commands.subcommand(
        "reflect", usage="reflect [text]", example="reflect Pairing on the migration taught me to read plans first",
        summary="Write a reflection: it answers your open prompt, or stands on its own. Private unless you share it.",
        handler=reflect_command)
    commands.dialog(REFLECT_DIALOG, handle_reflect)
    commands.action(REFLECT_NOW, handle_reflect_now)
    commands.action(SKIP, handle_skip)
    commands.action(SNOOZE, handle_snooze)
    commands.action(SHARE_ACTION, handle_share)

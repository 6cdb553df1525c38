"""Manifests: what learnloop needs in each host tool, declared in `manifests/<host>.yaml`.

The format is versioned (`manifest_version: 1`) and modelled on Slack's app manifest: display
information, a bot user, the slash command, event subscriptions. Every manifest is refused before
anything is touched when it has an unknown key, a wrong type, a missing field, a duplicate key or an
unsupported version; the error names the file, the line and the path, and what was expected, and
lists every problem at once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

import yaml
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, ValidationError

SUPPORTED_VERSIONS = (1,)
HOSTS = ("mattermost", "mediawiki", "outline", "bookstack")

_PATTERN_WORDS: dict[str, str] = {}


def _text(pattern: str, words: str, **constraints: Any) -> Any:
    """A string field whose pattern errors read as `expected <words>` instead of a regex."""
    _PATTERN_WORDS[pattern] = words
    return Field(pattern=pattern, description=words[0].upper() + words[1:] + ".", **constraints)


ServicePath = Annotated[str, _text(r"^/[A-Za-z0-9/_.-]*$",
                                   "a path on LEARNLOOP_PUBLIC_URL, such as /mattermost/command", max_length=200)]
ChannelRef = Annotated[str, _text(r"^[a-z0-9][a-z0-9_-]*/[a-z0-9][a-z0-9_-]*$",
                                  "team-name/channel-name, as in the channel's URL")]
TeamName = Annotated[str, _text(r"^[a-z0-9][a-z0-9_-]*$", "a team's name, as in its URL")]
WikiName = Annotated[str, _text(r"^[a-z0-9][a-z0-9_-]{0,39}$",
                                "the name of a [[wikis]] entry in learnloop's configuration")]


class ManifestError(ValueError):
    """The manifest cannot be used; each line of the message names a place in the file."""


class _Part(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DisplayInformation(_Part):
    name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)
    icon_url: AnyHttpUrl | None = None


class BotUser(_Part):
    username: str = _text(r"^[a-z][a-z0-9._-]{2,21}$",
                          "3 to 22 characters: lower-case letters, digits, '.', '_' or '-'")
    display_name: str = Field(min_length=1, max_length=64)
    description: str = Field(default="", max_length=1024)


class SlashCommand(_Part):
    trigger: str = _text(r"^[a-z0-9_.-]{1,128}$", "the word after '/', without the '/': lower-case letters, digits, "
                         "'.', '_' or '-'")
    path: ServicePath = "/mattermost/command"
    display_name: str = Field(default="learnloop", max_length=64)
    description: str = Field(default="", max_length=128)
    autocomplete: bool = True


class OutgoingWebhooks(_Part):
    """One outgoing webhook per channel: links become content, replies and mentions exchanges."""

    path: ServicePath = "/mattermost/outgoing"
    display_name: str = Field(default="learnloop", min_length=1, max_length=64)
    description: str = Field(default="", max_length=500)
    channels: list[ChannelRef] = Field(default_factory=list)
    community_channels: bool = Field(
        default=True, description="Also listen in every community channel named in the configuration.")


class _Manifest(_Part):
    manifest_version: Literal[1]
    display_information: DisplayInformation


class OAuthApp(_Part):
    """"Sign in with Mattermost" for the wiki widget: an OAuth 2.0 app whose only callback is
    <LEARNLOOP_PUBLIC_URL>/oauth/callback."""

    enabled: bool = True
    name: str = Field(default="learnloop", min_length=1, max_length=64)
    description: str = Field(default="", max_length=512)
    trusted: bool = Field(
        default=True,
        description="Skip Mattermost's consent screen (needs a system admin's token; otherwise each person "
                    "allows the app once).")


class MattermostManifest(_Manifest):
    host: Literal["mattermost"]
    bot_user: BotUser
    slash_command: SlashCommand
    outgoing_webhooks: OutgoingWebhooks = OutgoingWebhooks()
    oauth_app: OAuthApp = OAuthApp()
    teams: list[TeamName] = Field(
        default_factory=list,
        description="Teams that get the slash command and the bot; the teams of the channels are added.")


class RatingWidget(_Part):
    enabled: bool = True


class MediaWikiWidget(RatingWidget):
    page: str = _text(r"^MediaWiki:[^<>\[\]{}|#]+\.js$", "a site script page such as MediaWiki:Common.js",
                      default="MediaWiki:Common.js")


class MediaWikiManifest(_Manifest):
    host: Literal["mediawiki"]
    wiki: WikiName | None = None
    required_rights: list[str] = Field(
        default_factory=lambda: ["read", "edit", "createpage", "editsitejs"],
        description="Rights the bot password's grants must give (Special:BotPasswords).")
    widget: MediaWikiWidget = MediaWikiWidget()
    print_push_snippet: bool = Field(
        default=True, description="Print the optional LocalSettings.php snippet for signed push delivery.")


OutlineEvent = Literal["documents.create", "documents.publish", "documents.update", "documents.move",
                       "documents.delete", "documents.permanent_delete", "documents.archive", "documents.restore",
                       "documents.unarchive", "documents.unpublish", "collections.delete", "collections.archive",
                       "collections.restore"]
"""Every event the Outline host reads (outline.host.WEBHOOK_EVENTS; a test keeps the two the same)."""
BookStackEvent = Literal["page_create", "page_update", "page_restore", "page_move", "page_delete",
                         "recycle_bin_restore", "book_update", "book_sort", "chapter_move",
                         "book_create_from_chapter", "book_delete", "chapter_delete"]
"""Every event the BookStack host reads (bookstack.host.WEBHOOK_EVENTS; a test keeps the two the same)."""


class OutlineWebhook(_Part):
    name: str = Field(default="learnloop", min_length=1, max_length=255)
    events: list[OutlineEvent] = Field(default_factory=lambda: list(get_args(OutlineEvent)), min_length=1)


class OutlineManifest(_Manifest):
    host: Literal["outline"]
    wiki: WikiName | None = None
    webhook: OutlineWebhook = OutlineWebhook()


class BookStackWebhook(_Part):
    name: str = Field(default="learnloop", min_length=1, max_length=150)
    events: list[BookStackEvent] = Field(default_factory=lambda: list(get_args(BookStackEvent)), min_length=1)


class BookStackManifest(_Manifest):
    host: Literal["bookstack"]
    wiki: WikiName | None = None
    webhook: BookStackWebhook = BookStackWebhook()
    widget: RatingWidget = RatingWidget()


Manifest = MattermostManifest | MediaWikiManifest | OutlineManifest | BookStackManifest
MODELS: dict[str, type[_Manifest]] = {
    "mattermost": MattermostManifest, "mediawiki": MediaWikiManifest,
    "outline": OutlineManifest, "bookstack": BookStackManifest,
}


Problem = tuple[int, str]
"""A line of the manifest and what is wrong there, already worded with the file name."""


class _LineLoader(yaml.SafeLoader):
    """Remembers the line of every mapping key and sequence item. A duplicate key is noted as a
    problem and dropped, so the first value is the one validated (YAML would keep the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[tuple[str | int, ...], int] = {}
        self.duplicates: list[tuple[int, str]] = []

    def walk(self, node: yaml.Node, path: tuple[str | int, ...]) -> None:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            kept = []
            for key_node, value_node in node.value:
                key, line = key_node.value, key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    dotted = ".".join(str(part) for part in path) or "the top level"
                    self.duplicates.append((line, f"{dotted}: a key must be a plain name, not a list or mapping"))
                    continue
                if key in first:
                    dotted = ".".join(str(part) for part in (*path, key))
                    self.duplicates.append((line, f"{dotted}: appears twice (first on line {first[key]})"))
                    continue
                first[key] = line
                kept.append((key_node, value_node))
                self.lines[(*path, key)] = line
                self.walk(value_node, (*path, key))
            node.value = kept
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                self.walk(item, (*path, index))


def parse_manifest(text: str, source: str = "<manifest>") -> Manifest:
    """Validate a manifest's text; `source` names it in errors."""
    try:
        loader = _LineLoader(text)
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow, such as a control character
        raise ManifestError(f"{source}: not valid YAML: it holds the character {chr(exc.character)!r} "
                            f"(position {exc.position}), which YAML does not allow") from None
    try:
        try:
            node = loader.get_single_node()
            if node is None:
                raise ManifestError(f"{source}: the file is empty; expected a mapping with manifest_version and host")
            loader.walk(node, ())
            data = loader.construct_document(node)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = f":{mark.line + 1}" if mark else ""
            raise ManifestError(f"{source}{line}: not valid YAML: {exc.problem or exc}") from None
        except RecursionError:
            raise ManifestError(f"{source}: not valid YAML for a manifest: an alias refers to itself") from None
    finally:
        loader.dispose()
    problems: list[Problem] = [(line, f"{source}:{line}: {text}") for line, text in loader.duplicates]
    if not isinstance(data, dict):
        raise ManifestError(f"{source}:1: expected a mapping with manifest_version and host, got {_kind(data)}")
    header = _header_problem(data, source, loader.lines)
    if header is not None:
        raise _refused([*problems, header])
    model = MODELS[data["host"]]
    try:
        manifest = model.model_validate(data)
    except ValidationError as exc:
        problems += [_describe(error, source, loader.lines, model) for error in exc.errors(include_url=False)]
        raise _refused(problems) from None
    if problems:
        raise _refused(problems)
    return manifest  # type: ignore[return-value]


def _refused(problems: list[Problem]) -> ManifestError:
    """Every problem, in the order of the file's lines."""
    return ManifestError("\n".join(text for _, text in sorted(problems, key=lambda problem: problem[0])))


def load_manifest(path: Path) -> Manifest:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read the manifest: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ManifestError(f"{path}: not UTF-8 text") from None
    return parse_manifest(text, str(path))


def _header_problem(data: dict[str, Any], source: str, lines: dict[tuple[str | int, ...], int]) -> Problem | None:
    """A version or host this learnloop cannot read: the rest of the file cannot be checked then."""
    version = data.get("manifest_version")
    if "manifest_version" not in data:
        return 1, f"{source}:1: manifest_version: required; this learnloop reads manifest_version: 1"
    if type(version) is not int or version not in SUPPORTED_VERSIONS:
        supported = ", ".join(str(v) for v in SUPPORTED_VERSIONS)
        where = lines.get(("manifest_version",), 1)
        return where, (f"{source}:{where}: manifest_version: {version!r} is not supported; this learnloop reads "
                       f"manifest_version {supported}")
    host = data.get("host")
    if not isinstance(host, str) or host not in MODELS:
        where = lines.get(("host",), 1)
        got = "missing" if "host" not in data else f"got {host!r}"
        return where, f"{source}:{where}: host: expected one of {', '.join(HOSTS)} ({got})"
    return None


def _describe(error: Mapping[str, Any], source: str, lines: dict[tuple[str | int, ...], int],
              model: type[BaseModel]) -> Problem:
    location = tuple(error.get("loc", ()))
    line = _nearest_line(location, lines)
    path = ".".join(str(part) for part in location) or "(top level)"
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, location[:-1])
        message = "unknown key" + (f"; expected one of: {', '.join(allowed)}" if allowed else "")
    elif kind == "missing":
        message = "required, but missing"
    else:
        pattern = (error.get("ctx") or {}).get("pattern")
        message = (f"expected {_PATTERN_WORDS[pattern]}" if pattern in _PATTERN_WORDS
                   else str(error.get("msg", "invalid")).removeprefix("Value error, "))
        given = error.get("input")
        if not isinstance(given, (dict, list)) and given is not None:
            message += f" (got {given!r})"
    return line, f"{source}:{line}: {path}: {message}"


def _nearest_line(location: tuple[Any, ...], lines: dict[tuple[str | int, ...], int]) -> int:
    for end in range(len(location), -1, -1):
        if location[:end] in lines:
            return lines[location[:end]]
    return 1


def _allowed_keys(model: type[BaseModel], location: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in location:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) and issubclass(current, BaseModel) else None
        if field is None:
            return []
        current = _model_in(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for argument in getattr(annotation, "__args__", ()):
        found = _model_in(argument)
        if found is not None:
            return found
    return None


def _kind(value: Any) -> str:
    return "nothing" if value is None else f"a {type(value).__name__}"


def json_schema(host: str) -> dict[str, Any]:
    """The JSON Schema editors use to check `manifests/<host>.yaml` (committed as <host>.schema.json)."""
    schema = MODELS[host].model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://github.com/learnloop/learnloop/manifests/{host}.schema.json"
    return schema


def schema_text(host: str) -> str:
    return json.dumps(json_schema(host), indent=2, sort_keys=True) + "\n"

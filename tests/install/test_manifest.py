"""Manifests: the shipped ones are valid and match their committed JSON Schemas; every kind of bad
manifest is refused with the file, line, path and what was expected."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import jsonschema
import pytest
import yaml

from learnloop.bookstack.host import WEBHOOK_EVENTS as BOOKSTACK
from learnloop.install.manifest import (
    HOSTS,
    BookStackEvent,
    ManifestError,
    MattermostManifest,
    OutlineEvent,
    load_manifest,
    parse_manifest,
    schema_text,
)
from learnloop.outline.host import WEBHOOK_EVENTS as OUTLINE

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"

MINIMAL_MATTERMOST = """\
manifest_version: 1
host: mattermost
display_information:
  name: learnloop
bot_user:
  username: learnloop
  display_name: learnloop
slash_command:
  trigger: learn
"""


@pytest.mark.parametrize("host", HOSTS)
def test_shipped_manifest_is_valid(host: str) -> None:
    manifest = load_manifest(MANIFESTS / f"{host}.yaml")
    assert manifest.host == host
    assert manifest.manifest_version == 1


@pytest.mark.parametrize("host", HOSTS)
def test_committed_schema_is_the_generated_one(host: str) -> None:
    committed = (MANIFESTS / f"{host}.schema.json").read_text(encoding="utf-8")
    assert committed == schema_text(host), (
        f"manifests/{host}.schema.json is stale: regenerate it with "
        f"python -c \"from learnloop.install.manifest import schema_text; print(schema_text('{host}'), end='')\"")


@pytest.mark.parametrize("host", HOSTS)
def test_editors_json_schema_accepts_the_shipped_manifest(host: str) -> None:
    schema = json.loads((MANIFESTS / f"{host}.schema.json").read_text(encoding="utf-8"))
    document = yaml.safe_load((MANIFESTS / f"{host}.yaml").read_text(encoding="utf-8"))
    jsonschema.validate(document, schema)


def test_editors_json_schema_rejects_an_unknown_key() -> None:
    schema = json.loads((MANIFESTS / "mattermost.schema.json").read_text(encoding="utf-8"))
    document = {**yaml.safe_load(MINIMAL_MATTERMOST), "colour": "red"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, schema)


def test_defaults_fill_what_a_minimal_manifest_leaves_out() -> None:
    manifest = parse_manifest(MINIMAL_MATTERMOST)
    assert isinstance(manifest, MattermostManifest)
    assert manifest.slash_command.path == "/mattermost/command"
    assert manifest.outgoing_webhooks.path == "/mattermost/outgoing"
    assert manifest.outgoing_webhooks.community_channels is True


def refused(text: str) -> str:
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "manifests/mattermost.yaml")
    return str(caught.value)


def test_unknown_key_names_line_path_and_the_keys_expected() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("  display_name: learnloop\n", "  display_name: learnloop\n  avatar: x\n"))
    assert message == ("manifests/mattermost.yaml:8: bot_user.avatar: unknown key; expected one of: username, "
                       "display_name, description")


def test_unknown_top_level_key() -> None:
    message = refused(MINIMAL_MATTERMOST + "scopes: [chat:write]\n")
    assert message.startswith("manifests/mattermost.yaml:10: scopes: unknown key; expected one of: manifest_version,")


def test_wrong_type_names_what_was_expected_and_what_was_given() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("trigger: learn", "trigger: learn\n  autocomplete: sometimes"))
    assert message == ("manifests/mattermost.yaml:10: slash_command.autocomplete: Input should be a valid boolean, "
                       "unable to interpret input (got 'sometimes')")


def test_pattern_mismatch_says_what_is_expected_in_words() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("username: learnloop", "username: Learn Loop"))
    assert message == ("manifests/mattermost.yaml:6: bot_user.username: expected 3 to 22 characters: lower-case "
                       "letters, digits, '.', '_' or '-' (got 'Learn Loop')")


def test_missing_required_field() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("slash_command:\n  trigger: learn\n", ""))
    assert message == "manifests/mattermost.yaml:1: slash_command: required, but missing"


def test_missing_nested_field_points_at_its_parent() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("  display_name: learnloop\n", "", 1))
    assert message == "manifests/mattermost.yaml:5: bot_user.display_name: required, but missing"


def test_every_problem_is_listed_at_once() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("username: learnloop", "username: 7").replace("trigger: learn", "x: 1"))
    assert message.splitlines() == [
        "manifests/mattermost.yaml:6: bot_user.username: Input should be a valid string (got 7)",
        "manifests/mattermost.yaml:8: slash_command.trigger: required, but missing",
        ("manifests/mattermost.yaml:9: slash_command.x: unknown key; expected one of: trigger, path, display_name, "
         "description, autocomplete"),
    ]


def test_list_items_are_located() -> None:
    text = MINIMAL_MATTERMOST + "outgoing_webhooks:\n  channels:\n    - eng/town-square\n    - Town Square\n"
    message = refused(text)
    assert message.startswith("manifests/mattermost.yaml:13: outgoing_webhooks.channels.1: expected team-name/channel-name, "
                               "as in the channel's URL (got 'Town Square')")


@pytest.mark.parametrize("version", ["2", "0", "'1'", "1.0", "true"])
def test_unsupported_manifest_version(version: str) -> None:
    message = refused(MINIMAL_MATTERMOST.replace("manifest_version: 1", f"manifest_version: {version}"))
    assert message.startswith("manifests/mattermost.yaml:1: manifest_version:")
    assert "this learnloop reads manifest_version 1" in message


def test_missing_manifest_version() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("manifest_version: 1\n", ""))
    assert message == ("manifests/mattermost.yaml:1: manifest_version: required; this learnloop reads "
                       "manifest_version: 1")


def test_unknown_host() -> None:
    message = refused(MINIMAL_MATTERMOST.replace("host: mattermost", "host: slack"))
    assert message == ("manifests/mattermost.yaml:2: host: expected one of mattermost, mediawiki, outline, bookstack "
                       "(got 'slack')")


def test_duplicate_key_is_refused_not_silently_overwritten() -> None:
    message = refused(MINIMAL_MATTERMOST + "host: outline\n")
    assert message == "manifests/mattermost.yaml:10: host: appears twice (first on line 2)"


def test_a_duplicate_key_is_listed_with_the_other_problems_in_line_order() -> None:
    text = (MINIMAL_MATTERMOST.replace("  display_name: learnloop\n", "  display_name: learnloop\n  username: again\n", 1)
            .replace("trigger: learn", "trigger: Learn!") + "teams: [eng]\ncolour: red\nteams: [ops]\n")
    assert refused(text).splitlines() == [
        "manifests/mattermost.yaml:8: bot_user.username: appears twice (first on line 6)",
        ("manifests/mattermost.yaml:10: slash_command.trigger: expected the word after '/', without the '/': "
         "lower-case letters, digits, '.', '_' or '-' (got 'Learn!')"),
        ("manifests/mattermost.yaml:12: colour: unknown key; expected one of: manifest_version, display_information, "
         "host, bot_user, slash_command, outgoing_webhooks, oauth_app, teams"),
        "manifests/mattermost.yaml:13: teams: appears twice (first on line 11)",
    ]


def test_a_duplicate_key_is_listed_with_an_unreadable_version() -> None:
    text = MINIMAL_MATTERMOST.replace("manifest_version: 1", "manifest_version: 7") + "bot_user: {}\n"
    assert refused(text).splitlines() == [
        "manifests/mattermost.yaml:1: manifest_version: 7 is not supported; this learnloop reads manifest_version 1",
        "manifests/mattermost.yaml:10: bot_user: appears twice (first on line 5)",
    ]


@pytest.mark.parametrize(("text", "expected"), [
    ("", "manifests/mattermost.yaml: the file is empty; expected a mapping with manifest_version and host"),
    ("- a\n- b\n", "manifests/mattermost.yaml:1: expected a mapping with manifest_version and host, got a list"),
    ("manifest_version: 1\nhost: [mattermost\n", "manifests/mattermost.yaml:3: not valid YAML:"),
    ("manifest_version: 1\n\thost: x\n", "manifests/mattermost.yaml:2: not valid YAML:"),
    ("manifest_version: 1\nhost: [1]\n", "manifests/mattermost.yaml:2: host: expected one of mattermost, mediawiki,"),
    ("manifest_version: 1\nhost: {a: 1}\n", "manifests/mattermost.yaml:2: host: expected one of mattermost,"),
    ("manifest_version: 1\nhost: mattermost\x07\n", "manifests/mattermost.yaml: not valid YAML: it holds the "
                                                    "character '\\x07' (position 36), which YAML does not allow"),
    ("x: &a [*a]\nmanifest_version: 1\nhost: mattermost\n",
     "manifests/mattermost.yaml: not valid YAML for a manifest: an alias refers to itself"),
    ("? [1, 2]\n: x\nmanifest_version: 1\nhost: mattermost\n",
     "manifests/mattermost.yaml:1: the top level: a key must be a plain name, not a list or mapping"),
])
def test_not_a_manifest(text: str, expected: str) -> None:
    assert refused(text).startswith(expected)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match="cannot read the manifest"):
        load_manifest(tmp_path / "missing.yaml")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ManifestError, match="not UTF-8 text"):
        load_manifest(binary)


def test_wiki_manifest_bad_event_names_the_item() -> None:
    text = "manifest_version: 1\nhost: outline\ndisplay_information: {name: x}\nwebhook:\n  events: [documents.create, nope]\n"
    with pytest.raises(ManifestError) as caught:
        parse_manifest(text, "outline.yaml")
    assert str(caught.value).startswith("outline.yaml:5: webhook.events.1: Input should be 'documents.create'")


def test_the_manifests_subscribe_to_every_event_the_wiki_hosts_read() -> None:
    assert set(get_args(OutlineEvent)) == set(OUTLINE)
    assert set(get_args(BookStackEvent)) == set(BOOKSTACK)

"""A Mattermost (stateful, contract-validated) and a learnloop.toml to install into; shared by the
installer and CLI tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from learnloop.config import load_settings
from learnloop.install.config_file import ConfigFile
from learnloop.install.ledger import Ledger, ledger_path_for
from learnloop.install.manifest import MattermostManifest, load_manifest
from learnloop.install.mattermost import MattermostInstaller
from learnloop.install.plan import InstallContext, Plan
from learnloop.mattermost.admin_client import MattermostAdminClient
from tests.contract.fixtures import MATTERMOST_TEST_URL
from tests.contract.mattermost_openapi import MattermostContract
from tests.install.fake_mattermost import ADMIN_TOKEN, FakeMattermost

MANIFEST = Path(__file__).resolve().parents[2] / "manifests" / "mattermost.yaml"
PUBLIC_URL = "https://learnloop.example.com"
MUTATING = {"POST", "PUT", "DELETE"}
READS = {("POST", "/api/v4/roles/names")}


@pytest.fixture(autouse=True)
def public_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """learnloop.example.com resolves to a public address; tests never touch real DNS."""
    real = socket.getaddrinfo

    def fake(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "learnloop.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", 0))]
        if host == "learnloop.internal":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.1.2.3", 0))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@dataclass
class World:
    fake: FakeMattermost
    contract: MattermostContract
    config_path: Path
    town: dict[str, Any]
    random: dict[str, Any]
    secret: dict[str, Any]
    team: dict[str, Any]

    def context(self, *, dry_run: bool = False, public_url: str = PUBLIC_URL) -> InstallContext:
        settings = load_settings(config_file=self.config_path, public_url=public_url)
        return InstallContext(settings, Ledger(ledger_path_for(self.config_path)), ConfigFile(self.config_path),
                              dry_run)

    def installer(self, *, dry_run: bool = False, token: str = ADMIN_TOKEN, channels: tuple[str, ...] = (),
                  teams: tuple[str, ...] = (), manifest: MattermostManifest | None = None,
                  public_url: str = PUBLIC_URL, url: str = MATTERMOST_TEST_URL) -> MattermostInstaller:
        loaded = manifest or load_manifest(MANIFEST)
        assert isinstance(loaded, MattermostManifest)
        return MattermostInstaller(loaded, self.context(dry_run=dry_run, public_url=public_url),
                                   MattermostAdminClient(url, token), teams=teams, channels=channels)

    def install(self, **options: Any) -> Plan:
        installer = self.installer(**options)
        plan = Plan(installer.context.dry_run)
        installer.install(plan)
        return plan

    def uninstall(self, *, dry_run: bool = False) -> Plan:
        installer = self.installer(dry_run=dry_run)
        plan = Plan(dry_run)
        installer.uninstall(plan)
        return plan

    def changes_sent(self, since: int = 0) -> list[str]:
        return [f"{c.method} {c.path}" for c in self.contract.calls[since:]
                if c.method in MUTATING and (c.method, c.path) not in READS]

    def settings(self) -> Any:
        return load_settings(config_file=self.config_path)


@pytest.fixture
def world(mattermost_contract: MattermostContract, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for name in ("CONFIG_FILE", "MATTERMOST_URL", "MATTERMOST_BOT_TOKEN", "MATTERMOST_BOT_USER_ID",
                 "MATTERMOST_COMMAND_TOKENS", "MATTERMOST_WEBHOOK_TOKENS", "PUBLIC_URL"):
        monkeypatch.delenv(f"LEARNLOOP_{name}", raising=False)
    fake = FakeMattermost(mattermost_contract)
    team = fake.add_team("engineering")
    town = fake.add_channel(team, "town-square")
    random = fake.add_channel(team, "random")
    secret = fake.add_channel(team, "leads", private=True)
    config_path = tmp_path / "learnloop.toml"
    config_path.write_text(
        "# the admin's own notes stay\n"
        f'public_url = "{PUBLIC_URL}"\n\n'
        "[[communities]]\n"
        'name = "Platform"  # our first community\n'
        f'channel_id = "{town["id"]}"\n',
        encoding="utf-8")
    yield World(fake, mattermost_contract, config_path, town, random, secret, team)

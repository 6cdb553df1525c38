"""Start a real, throw-away MediaWiki (Debian package, SQLite, ``php -S``) for tests.

Thin wrapper around ``scripts/mediawiki_fixture.sh``::

    server = start_mediawiki()          # installs packages if missing, picks a free port
    try:
        ...  # server.api_url, server.bot_user, server.bot_password
    finally:
        server.stop()

or ``with start_mediawiki() as server: ...``.
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "mediawiki_fixture.sh"

INSTALL_TIMEOUT = 900  # cold apt-get install takes ~30 s; be generous for slow mirrors
START_TIMEOUT = 120  # the script itself gives up after 60 s of waiting for the API


class MediaWikiFixtureError(RuntimeError):
    pass


@dataclass
class MediaWikiServer:
    url: str
    api_url: str
    bot_user: str
    bot_password: str
    dir: Path
    pid: int
    admin_user: str = "Admin"
    admin_password: str = ""
    _stopped: bool = field(default=False, repr=False)

    def stop(self) -> None:
        """Kill the server and delete its directory (idempotent)."""
        if self._stopped:
            return
        _run_script("stop", "--dir", str(self.dir), timeout=60)
        self._stopped = True

    def __enter__(self) -> MediaWikiServer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _run_script(*args: str, timeout: float) -> str:
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    proc = subprocess.run(
        ["bash", str(SCRIPT), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if proc.returncode != 0:
        raise MediaWikiFixtureError(
            f"{SCRIPT.name} {' '.join(args)} failed (exit {proc.returncode}):\n{proc.stderr}"
        )
    return proc.stdout


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parse_env_lines(stdout: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in stdout.splitlines():
        if not line.strip():
            continue
        # The script prints KEY=<printf %q value>; shlex undoes the shell quoting.
        key, sep, value = shlex.split(line)[0].partition("=")
        if sep:
            values[key] = value
    return values


def install_mediawiki() -> None:
    """apt-get install the packages if any is missing (fast no-op otherwise)."""
    _run_script("install", timeout=INSTALL_TIMEOUT)


def start_mediawiki(port: int | None = None) -> MediaWikiServer:
    """Install (if needed) and start a fresh wiki; on a free port unless ``port`` is given."""
    install_mediawiki()
    attempts = 1 if port is not None else 3
    last_error: MediaWikiFixtureError | None = None
    for _ in range(attempts):
        chosen = port if port is not None else _free_port()
        try:
            stdout = _run_script("start", "--port", str(chosen), timeout=START_TIMEOUT)
        except MediaWikiFixtureError as exc:
            # Another process may have grabbed the port between _free_port() and php -S.
            if port is None and ("already in use" in str(exc) or "server exited" in str(exc)):
                last_error = exc
                continue
            raise
        env = _parse_env_lines(stdout)
        try:
            return MediaWikiServer(
                url=env["MEDIAWIKI_URL"],
                api_url=env["MEDIAWIKI_API"],
                bot_user=env["MEDIAWIKI_BOT_USER"],
                bot_password=env["MEDIAWIKI_BOT_PASSWORD"],
                dir=Path(env["MEDIAWIKI_DIR"]),
                pid=int(env["MEDIAWIKI_PID"]),
                admin_user=env.get("MEDIAWIKI_ADMIN_USER", "Admin"),
                admin_password=env.get("MEDIAWIKI_ADMIN_PASSWORD", ""),
            )
        except (KeyError, ValueError) as exc:
            if "MEDIAWIKI_DIR" in env:
                _run_script("stop", "--dir", env["MEDIAWIKI_DIR"], timeout=60)
            raise MediaWikiFixtureError(f"unexpected output from {SCRIPT.name} start:\n{stdout}") from exc
    assert last_error is not None
    raise last_error

"""Fixtures: a real ``settled serve --dev`` on a free loopback port, and clients of it.

The binary is ``$SETTLED_BIN``, by default ``target/debug/settled`` of the
repository (``../../target/debug/settled`` from clients/python). Each server
gets a temporary data directory and is stopped when its fixture ends.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from settled_client import Confirmation, Output, SecretKey, SettledClient

CLIENT_DIR = Path(__file__).resolve().parents[1]
SETTLED_BIN = Path(os.environ.get("SETTLED_BIN", CLIENT_DIR / ".." / ".." / "target" / "debug" / "settled"))
_SERVING = re.compile(r"settled serving on 127\.0\.0\.1:(\d+) ")
START_TIMEOUT = 30.0


class DevServer:
    """One development server: its data directory, address, token and issuer keys."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.port = 0  # 0: let the server pick a free port on first start
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Starts the server (on the port it had, after a restart) and waits until it serves."""
        if not SETTLED_BIN.is_file():
            pytest.fail(f"no settled binary at {SETTLED_BIN}: build it or set SETTLED_BIN")
        self.data_dir.mkdir(exist_ok=True)
        with open(self.log, "ab") as log:
            start_at = log.tell()
            self._process = subprocess.Popen(
                [
                    str(SETTLED_BIN),
                    "serve",
                    "--dev",
                    "--data-dir",
                    str(self.data_dir),
                    "--listen",
                    f"127.0.0.1:{self.port}",
                    "--no-integrity-detector",
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            with open(self.log, "rb") as log:
                log.seek(start_at)
                found = _SERVING.search(log.read().decode(errors="replace"))
            if found:
                self.port = int(found.group(1))
                return
            if self._process.poll() is not None:
                pytest.fail(f"settled exited with {self._process.returncode}; see {self.log}")
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"settled did not start within {START_TIMEOUT} s; see {self.log}")

    def stop(self) -> None:
        """Stops the server (SIGTERM, then SIGKILL after 15 s)."""
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def restart(self) -> None:
        """Stops and starts the server on the same port and data directory."""
        self.stop()
        self.start()

    @property
    def target(self) -> str:
        """The gRPC address."""
        return f"127.0.0.1:{self.port}"

    @property
    def token(self) -> str:
        """The development token (every role)."""
        return (self.data_dir / "dev.token").read_text().strip()

    @property
    def issuer_keys(self) -> list[SecretKey]:
        """The development issuer set (2 of 3)."""
        return [SecretKey.load(path) for path in sorted(self.data_dir.glob("issuer-*.key"))]

    @property
    def engine_key(self) -> bytes:
        """The engine's public key, from its secret key file."""
        return SecretKey.load(self.data_dir / "engine.key").address


def run_server(data_dir: Path) -> Iterator[DevServer]:
    """A started server, stopped when the generator is closed."""
    server = DevServer(data_dir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevServer]:
    """The server shared by the end-to-end tests (each uses fresh keys)."""
    yield from run_server(tmp_path_factory.mktemp("settled") / "data")


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[DevServer]:
    """A server of the test's own, for tests that restart it."""
    yield from run_server(tmp_path / "data")


@pytest.fixture
def client(server: DevServer) -> Iterator[SettledClient]:
    """A client of the shared server with the development token."""
    with SettledClient(server.target, token=server.token) as connected:
        yield connected


def fund(client: SettledClient, issuers: list[SecretKey], owner: bytes, *amounts: int) -> Confirmation:
    """Mints one output per amount to ``owner``, with a fresh reference."""
    outputs = [Output(owner, amount) for amount in amounts]
    return client.mint(outputs, issuers[:2], reference=os.urandom(16).hex())

"""The README's two examples, copied out and run as they are against a real server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from conftest import DevServer, fund

from settled_client import SecretKey, SettledClient

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    """The README's ```python code blocks, in order."""
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.MULTILINE | re.DOTALL)


def run(code: str, cwd: Path, **env: str) -> str:
    """Runs ``code`` in a fresh interpreter with ``env`` added; its standard output."""
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_readme_has_two_examples_of_under_20_lines() -> None:
    blocks = python_blocks()
    assert len(blocks) == 2
    assert all(len(block.strip().splitlines()) < 20 for block in blocks)


def test_pay_and_verify_a_receipt(server: DevServer, tmp_path: Path) -> None:
    output = run(python_blocks()[0], tmp_path, SETTLED_DATA_DIR=str(server.data_dir), SETTLED_TARGET=server.target)
    assert re.search(r"^paid [0-9a-f]{64} sequence \d+ block \d+$", output, flags=re.MULTILINE)
    assert output.endswith("merchant holds 23.50\n")


def test_follow_a_bank_stream(server: DevServer, tmp_path: Path) -> None:
    bank_id, token = f"readme-{os.urandom(4).hex()}", os.urandom(32).hex()
    wallet = SecretKey.generate()
    with SettledClient(server.target, token=server.token) as operator:
        operator.register_bank(bank_id, "README bank", tokens=[token])
        operator.register_wallet(wallet.address, bank_id)
        fund(operator, server.issuer_keys, wallet.address, 4200)
        env = {"SETTLED_TARGET": server.target, "SETTLED_BANK_TOKEN": token, "SETTLED_BANK": bank_id}
        first = run(python_blocks()[1], tmp_path, **env)
        assert " MINT CREDIT 42.00\n" in first
        assert re.search(r"^block \d+ balance 42\.00$", first, flags=re.MULTILINE)
        assert (tmp_path / "bank-cursor.json").is_file()
        operator.pay(wallet, SecretKey.generate().address, "0.42")
        second = run(python_blocks()[1], tmp_path, **env)  # resumes from the saved cursor
    assert " MINT " not in second
    assert " PAYMENT DEBIT 0.42\n" in second
    assert second.rstrip().endswith("balance 41.58")

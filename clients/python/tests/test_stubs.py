"""The committed protobuf stubs are exactly what regen.py generates from proto/."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from settled_client._proto.settled.v1 import ledger_pb2

CLIENT_DIR = Path(__file__).resolve().parents[1]


def _regen():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("regen", CLIENT_DIR / "regen.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_equal_a_fresh_generation(tmp_path: Path) -> None:
    regen = _regen()
    fresh = tmp_path / "_proto"
    regen.generate(regen.PROTO_ROOT, fresh)
    assert regen.differences(regen.PACKAGE_DIR, fresh) == [], "run clients/python/regen.py"


def test_every_public_proto_is_compiled() -> None:
    regen = _regen()
    protos = {p.stem for p in regen.proto_files(regen.PROTO_ROOT)}
    assert {"ledger", "payment", "wallet", "admin", "reconciliation", "alerts"} <= protos
    modules = {p.name.removesuffix("_pb2.py") for p in (regen.PACKAGE_DIR / "settled" / "v1").glob("*_pb2.py")}
    assert protos == modules


def test_stubs_import_as_a_package() -> None:
    assert ledger_pb2.DESCRIPTOR.package == "settled.v1"
    assert ledger_pb2.__name__ == "settled_client._proto.settled.v1.ledger_pb2"


def test_the_replicas_raft_service_is_not_part_of_the_sdk() -> None:
    regen = _regen()
    assert (regen.PROTO_ROOT / "settled" / "v1" / "raft.proto").is_file(), "the exclusion names a proto that exists"
    assert "raft.proto" in regen.INTERNAL_PROTOS
    assert not list((regen.PACKAGE_DIR / "settled" / "v1").glob("raft_*"))

#!/usr/bin/env python3
"""Regenerates the protobuf and gRPC modules of ``settled_client._proto``.

Usage::

    python regen.py            # rewrite settled_client/_proto from ../../proto
    python regen.py --check    # exit 1 if the committed modules differ

The modules are generated from ``proto/settled/v1/*.proto`` of the repository
(less the replicas' internal ``raft.proto``, which is no part of the public
API) with the protoc bundled in ``grpcio-tools`` (no system protoc), then their
imports are rewritten so that they import each other as
``settled_client._proto.settled.v1.*`` instead of a top-level ``settled``
package. The output depends on the grpcio-tools version: regenerate with the
version ``requirements.lock`` pins.
"""

from __future__ import annotations

import argparse
import filecmp
import re
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROTO_ROOT = HERE.parent.parent / "proto"
PACKAGE_DIR = HERE / "settled_client" / "_proto"
PROTO_PACKAGE = "settled_client._proto"

_INIT = '"""Generated protobuf and gRPC modules (see regen.py). Do not edit."""\n'
# The cluster's own services (Raft between the replicas, over mutual TLS with
# the cluster's CA): not for clients, so not in the SDK.
INTERNAL_PROTOS = frozenset({"raft.proto"})
_IMPORT = re.compile(r"^from settled\.v1 import ", re.MULTILINE)


def proto_files(proto_root: Path) -> list[Path]:
    """The public API's .proto files to compile, relative to ``proto_root``, sorted."""
    return sorted(
        p.relative_to(proto_root)
        for p in (proto_root / "settled" / "v1").glob("*.proto")
        if p.name not in INTERNAL_PROTOS
    )


def generate(proto_root: Path, out_dir: Path) -> None:
    """Compiles every proto of ``proto_root`` into ``out_dir`` (created anew)."""
    from grpc_tools import protoc  # only needed to regenerate

    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    files = [str(p) for p in proto_files(proto_root)]
    if not files:
        raise SystemExit(f"no .proto files under {proto_root}")
    args = [
        "grpc_tools.protoc",
        f"--proto_path={proto_root}",
        f"--python_out={out_dir}",
        f"--pyi_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        *files,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for package in (out_dir, out_dir / "settled", out_dir / "settled" / "v1"):
        (package / "__init__.py").write_text(_INIT)
    for module in sorted((out_dir / "settled" / "v1").glob("*.py*")):
        text = module.read_text()
        module.write_text(_IMPORT.sub(f"from {PROTO_PACKAGE}.settled.v1 import ", text))


def differences(left: Path, right: Path) -> list[str]:
    """Files that differ, or exist on one side only, between two trees."""

    def files(root: Path) -> set[Path]:
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts}

    ours, theirs = files(left), files(right)
    changed = [str(p) for p in sorted(ours & theirs) if not filecmp.cmp(left / p, right / p, shallow=False)]
    return (
        changed
        + [f"{p} (only in {left})" for p in sorted(ours - theirs)]
        + [f"{p} (only in {right})" for p in sorted(theirs - ours)]
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--proto-root", type=Path, default=PROTO_ROOT)
    args = parser.parse_args()
    if not args.check:
        generate(args.proto_root, PACKAGE_DIR)
        print(f"regenerated {PACKAGE_DIR}")
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch) / "_proto"
        generate(args.proto_root, fresh)
        diff = differences(PACKAGE_DIR, fresh)
    for line in diff:
        print(f"differs: {line}", file=sys.stderr)
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())

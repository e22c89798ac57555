#!/usr/bin/env python3
"""Validate probity report outputs against the vendored official schemas.

Usage:
    python3 tests/schemas/validate.py junit FILE.xml
    python3 tests/schemas/validate.py cyclonedx FILE.json

junit      XML Schema validation with lxml against junit-10.xsd
           (Jenkins xunit-plugin). The root element must also be
           <testsuites> or <testsuite>: the XSD declares every element
           globally, so on its own it would accept e.g. a bare <failure/>.
cyclonedx  JSON Schema (Draft 7) validation with `jsonschema` against
           bom-1.6.schema.json; its $refs to spdx.schema.json and
           jsf-0.82.schema.json are resolved from this folder through a
           `referencing` registry. Nothing is fetched over the network.
           Format checking uses the standard library only:
             date-time      strict RFC 3339 (_is_rfc3339)
             uri            RFC 3986 absolute URI, character level (_is_uri)
             idn-email      must contain "@" (jsonschema's own rule)
             iri-reference  NOT checked (would need the rfc3987 package;
                            cyclonedx-python-lib does not check it either).
           Besides the schema, rules the schema cannot express are checked:
           "[spec]" specVersion must be "1.6" and every bom-ref must be
           unique in the BOM (CycloneDX 1.6 spec); "[json]" no object may
           repeat a key (RFC 8259 SHOULD; parsers disagree on which value
           wins) and NaN / Infinity are rejected as not JSON.

Exit status:
    0  valid (prints "valid")
    1  invalid or not well-formed (prints every error: location + message)
    2  usage error, missing dependency (lxml / jsonschema / referencing),
       missing schema file, or the input file cannot be read.

Python packages needed: lxml (junit); jsonschema >= 4.18 and referencing
(cyclonedx; referencing is installed with jsonschema).
"""

import datetime
import json
import os
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

JUNIT_XSD = "junit-10.xsd"
CDX_MAIN = "bom-1.6.schema.json"
CDX_REFERENCED = ("spdx.schema.json", "jsf-0.82.schema.json")
CDX_SPEC_VERSION = "1.6"

MAX_MESSAGE = 500
MAX_ALTERNATIVES = 8


class Fatal(Exception):
    """Problem that is not the document's fault: exit status 2."""


def _read_bytes(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise Fatal(f"cannot read {path}: {exc.strerror or exc}") from exc


def _schema_path(name):
    path = os.path.join(HERE, name)
    if not os.path.isfile(path):
        raise Fatal(f"schema file missing: {path}")
    return path


def _short(text):
    text = " ".join(str(text).split())
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "\u2026"
    return text


# --------------------------------------------------------------------- JUnit


def validate_junit(path):
    try:
        from lxml import etree
    except ImportError as exc:
        raise Fatal(
            "Python package 'lxml' is missing: python3 -m pip install lxml"
        ) from exc

    data = _read_bytes(path)
    xsd_path = _schema_path(JUNIT_XSD)
    try:
        schema = etree.XMLSchema(etree.parse(xsd_path))
    except (etree.XMLSyntaxError, etree.XMLSchemaParseError) as exc:
        raise Fatal(f"cannot load schema {xsd_path}: {exc}") from exc

    parser = etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        errors = [f"line {e.line}, column {e.column}: {_short(e.message)}"
                  for e in exc.error_log] or [_short(exc)]
        return [f"not well-formed XML: {m}" for m in errors]

    errors = []
    if root.tag not in ("testsuites", "testsuite"):
        errors.append(
            f"line {root.sourceline} /{root.tag}: [junit] root element must be "
            f"<testsuites> or <testsuite>, found <{root.tag}>"
        )
    if not schema.validate(root):
        for e in schema.error_log:
            where = e.path or "?"
            errors.append(f"line {e.line} {where}: {_short(e.message)}")
    return errors


# ----------------------------------------------------------------- CycloneDX


def _message(err):
    """Error text; long enum lists (e.g. the SPDX licence ids) are summarised."""
    if err.validator == "enum" and len(err.validator_value) > 20:
        return (f"{err.instance!r} is not one of the {len(err.validator_value)} "
                f"allowed values ({'/'.join(map(str, err.schema_path))})")
    return _short(err.message)


_RFC3339 = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?"
    r"(?:[Zz]|([+-])(\d{2}):(\d{2}))$"
)


def _is_rfc3339(value):
    """RFC 3339 section 5.6 date-time, e.g. 2025-01-31T12:00:00Z."""
    if not isinstance(value, str):
        return True  # formats only constrain strings
    m = _RFC3339.match(value)
    if not m:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    try:
        datetime.date(year, month, day)
    except ValueError:
        return False
    if hour > 23 or minute > 59 or second > 60:  # 60: leap second
        return False
    if m.group(8):
        if int(m.group(9)) > 23 or int(m.group(10)) > 59:
            return False
    return True


_URI = re.compile(
    r"^[A-Za-z][A-Za-z0-9+.\-]*:"
    r"(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?\[\]]|%[0-9A-Fa-f]{2})*"
    r"(?:#(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/?]|%[0-9A-Fa-f]{2})*)?$"
)


def _is_uri(value):
    """RFC 3986 absolute URI (scheme required, ASCII, %-escapes well formed).

    Character-level check only; it does not parse the authority part. It
    matters for jsf-0.82's signature "algorithm", a oneOf of {format: uri}
    and an enum of JWA names: without a uri check "ES256" would match both
    branches and fail the oneOf.
    """
    return not isinstance(value, str) or _URI.match(value) is not None


def _reject_constant(name):
    raise ValueError(f"{name} is not a JSON value")


def _no_duplicate_keys(pairs, dupes):
    obj = {}
    for key, value in pairs:
        if key in obj:
            dupes.append(key)
        obj[key] = value
    return obj


def _collect_bom_refs(node, where, seen, errors):
    """Every bom-ref must be unique within the BOM (CycloneDX 1.6 spec)."""
    if isinstance(node, dict):
        ref = node.get("bom-ref")
        if isinstance(ref, str):
            if ref in seen:
                errors.append(f"{where}: [spec] bom-ref {ref!r} is not unique "
                              f"(also used at {seen[ref]})")
            else:
                seen[ref] = where
        for key, value in node.items():
            step = (f".{key}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key)
                    else f"[{key!r}]")
            _collect_bom_refs(value, where + step, seen, errors)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            _collect_bom_refs(value, f"{where}[{i}]", seen, errors)


def validate_cyclonedx(path):
    try:
        import jsonschema
        from jsonschema import Draft7Validator, FormatChecker
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7
    except ImportError as exc:
        raise Fatal(
            "Python packages 'jsonschema' (>= 4.18) and 'referencing' are "
            "needed: python3 -m pip install jsonschema"
        ) from exc

    data = _read_bytes(path)

    # Load the schemas and register each under its own "$id"
    # (http://cyclonedx.org/schema/<name>). bom-1.6's relative $refs
    # "spdx.schema.json" and "jsf-0.82.schema.json#/definitions/signature"
    # resolve against its $id to exactly those URIs, so nothing is retrieved.
    resources = []
    main_schema = None
    for name in (CDX_MAIN,) + CDX_REFERENCED:
        schema_file = _schema_path(name)
        try:
            with open(schema_file, "rb") as fh:
                contents = json.load(fh)
        except (OSError, ValueError) as exc:
            raise Fatal(f"cannot load schema {schema_file}: {exc}") from exc
        uri = contents.get("$id")
        if not uri:
            raise Fatal(f"schema {schema_file} has no $id")
        resources.append((uri, Resource.from_contents(contents,
                                                      default_specification=DRAFT7)))
        if name == CDX_MAIN:
            main_schema = contents
    registry = Registry().with_resources(resources)

    if jsonschema.validators.validator_for(main_schema) is not Draft7Validator:
        raise Fatal(f"{CDX_MAIN} does not declare JSON Schema Draft 7")

    format_checker = FormatChecker(formats=())
    format_checker.checks("date-time")(_is_rfc3339)
    format_checker.checks("uri")(_is_uri)
    format_checker.checks("idn-email")(
        lambda v: not isinstance(v, str) or "@" in v
    )

    dupes = []
    try:
        document = json.loads(
            data,
            object_pairs_hook=lambda p: _no_duplicate_keys(p, dupes),
            parse_constant=_reject_constant,
        )
    except UnicodeDecodeError as exc:
        return [f"not UTF-8 text: {exc}"]
    except ValueError as exc:
        return [f"not well-formed JSON: {exc}"]

    validator = Draft7Validator(
        main_schema, registry=registry, format_checker=format_checker
    )
    errors = []
    schema_errors = sorted(
        validator.iter_errors(document),
        key=lambda e: (list(map(str, e.absolute_path)), e.message),
    )
    for err in schema_errors:
        line = f"{err.json_path}: {_message(err)}"
        # oneOf / anyOf: say why each alternative failed.
        sub = sorted(err.context, key=lambda e: (str(e.relative_schema_path[0]),
                                                  list(map(str, e.absolute_path))))
        for c in sub[:MAX_ALTERNATIVES]:
            line += (f"\n      alternative {c.relative_schema_path[0]}: "
                     f"{c.json_path}: {_message(c)}")
        if len(sub) > MAX_ALTERNATIVES:
            line += f"\n      ... {len(sub) - MAX_ALTERNATIVES} more"
        errors.append(line)

    for key in dupes:
        errors.append(f"[json] duplicate object key {key!r} (JSON objects "
                      "must not repeat keys; parsers keep only one value)")
    if isinstance(document, dict):
        spec = document.get("specVersion")
        if spec is not None and spec != CDX_SPEC_VERSION:
            errors.append(f"$.specVersion: [spec] must be "
                          f"{CDX_SPEC_VERSION!r} for this schema, found {spec!r}")
    _collect_bom_refs(document, "$", {}, errors)
    return errors


# ---------------------------------------------------------------------- main

KINDS = {"junit": validate_junit, "cyclonedx": validate_cyclonedx}


def main(argv):
    if len(argv) != 3 or argv[1] not in KINDS:
        sys.stderr.write(
            "usage: python3 tests/schemas/validate.py junit FILE.xml\n"
            "       python3 tests/schemas/validate.py cyclonedx FILE.json\n"
        )
        return 2
    kind, path = argv[1], argv[2]
    try:
        errors = KINDS[kind](path)
    except Fatal as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    if errors:
        print(f"invalid: {path} ({kind}), {len(errors)} error(s):")
        for e in errors:
            print(f"  - {e}")
        return 1
    print("valid")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

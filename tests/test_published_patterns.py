"""The OpenAPI documents publish no rule the server does not enforce (issue 9, item 14).

A published pattern is read by three engines: ECMA-262, as the documents say (and as
jsonschema_rs, the validator schemathesis trusts, reads it); Rust `regex`, as pydantic-core
enforces it; Python `re`, as the router matches paths and schemathesis draws values. They
disagree on `\\s` (U+0085, U+FEFF, U+001C-U+001F), `\\d`, `\\w`, `\\b`, `.`, inline flags and
Rust's nested classes, so every published pattern is held to a grammar whose meaning is the
same in all three, and every character class to the same members under each. Then the rules
the patterns once hid are checked at the server itself: what the document calls valid is
taken, what it calls invalid is refused.
"""

import re
from functools import cache
from typing import Annotated, Any

import jsonschema_rs
import pytest
from pydantic import StringConstraints, TypeAdapter, ValidationError

from scripts.export_openapi import documents
from tests.commitments_helpers import crm_event, new_event_id, promise
from tests.gateway_helpers import VIEWER

# The constructs all three engines read alike.
_HEX = r"\\x[0-9a-fA-F]{2}|\\u[0-9a-fA-F]{4}"
_CLASS_ATOM = rf"(?:{_HEX}|\\[\\\]\-^]|[^\\\[\]\-])"
# No `[` inside a class (Rust nests classes) and no `&&`, `--`, `~~` (Rust set operations); a
# literal `-` only last.
_CLASS = rf"\[\^?(?:{_CLASS_ATOM}(?:-{_CLASS_ATOM})?)+-?\]"
_TOKEN = re.compile(
    rf"""
    (?P<class>{_CLASS})
    | (?P<escape>{_HEX}|\\[\\^$.*+?()\[\]{{}}|])
    | (?P<group>\(\?:|\((?!\?)|\))
    | (?P<alternation>\|)
    | (?P<quantifier>[*+?]|\{{[0-9]+(?:,[0-9]*)?\}})
    | (?P<literal>[^\\\[\](){{}}|.^$*+?])
    """,
    re.VERBOSE,
)


def _published_patterns() -> list[tuple[str, str]]:
    found: set[tuple[str, str]] = set()

    def walk(node: Any, name: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key == "pattern" and isinstance(value, str):
                    found.add((name, value))
                walk(value, name)
        elif isinstance(node, list):
            for value in node:
                walk(value, name)

    for name, document in _documents().items():
        walk(document, name)
    return sorted(found)


@cache
def _documents() -> dict[str, dict]:
    return documents()


def _portability_problem(pattern: str) -> str | None:
    """What in `pattern` some engine reads differently, or None."""
    if not (pattern.startswith("^") and pattern.endswith("$")):
        return "not anchored at both ends with ^ and $ (anchors only there)"
    body, position = pattern[1:-1], 0
    while position < len(body):
        token = _TOKEN.match(body, position)
        if token is None:
            return f"{body[position:]!r} is not in the portable grammar"
        if token.lastgroup == "class" and any(op in token[0] for op in ("&&", "~~", "--")):
            return f"{token[0]!r} holds a Rust set operation"
        position = token.end()
    return None


def _character_classes(pattern: str) -> list[str]:
    # Looser than the grammar, so that a class it refuses has its members compared too.
    return re.findall(r"\[(?:\\.|[^\]\\])*\]", pattern)


PATTERNS = _published_patterns()
CLASSES = sorted({cls for _, pattern in PATTERNS for cls in _character_classes(pattern)})

# Every BMP character (surrogates cannot stand alone in a str for pydantic), and a few astral.
_CHARACTERS = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + [
    chr(c) for c in (0x10000, 0x1F600, 0xE0020, 0x10FFFF)
]


def _members_by_engine(character_class: str) -> dict[str, frozenset[str]]:
    pattern = f"^{character_class}$"
    python, python_ascii = re.compile(pattern), re.compile(pattern, re.ASCII)
    rust = TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])
    ecma = jsonschema_rs.Draft202012Validator({"pattern": pattern})

    def rust_takes(character: str) -> bool:
        try:
            rust.validate_python(character)
        except ValidationError:
            return False
        return True

    return {
        "ECMA-262 (jsonschema_rs)": frozenset(c for c in _CHARACTERS if ecma.is_valid(c)),
        "Rust regex (pydantic-core)": frozenset(c for c in _CHARACTERS if rust_takes(c)),
        "Python re": frozenset(c for c in _CHARACTERS if python.search(c)),
        "Python re, ASCII (schemathesis draws)": frozenset(
            c for c in _CHARACTERS if python_ascii.search(c)
        ),
    }


def test_the_documents_publish_patterns():
    # Guards the two tests below against passing on nothing.
    assert {name for name, _ in PATTERNS} == {"gateway", "commitments", "roadmap"}
    assert len(CLASSES) >= 5


@pytest.mark.parametrize(("app", "pattern"), PATTERNS)
def test_every_published_pattern_uses_only_what_every_engine_reads_alike(app, pattern):
    assert _portability_problem(pattern) is None, (app, pattern, _portability_problem(pattern))
    # And each engine compiles it (Rust refuses, say, an escaped surrogate).
    re.compile(pattern)
    TypeAdapter(Annotated[str, StringConstraints(pattern=pattern)])
    jsonschema_rs.Draft202012Validator({"pattern": pattern})


@pytest.mark.parametrize("character_class", CLASSES)
def test_every_published_character_class_has_the_same_members_in_every_engine(character_class):
    members = _members_by_engine(character_class)
    server = members["Rust regex (pydantic-core)"]
    differences = {
        engine: sorted(f"U+{ord(c):04X}" for c in found ^ server)[:10]
        for engine, found in members.items()
        if found != server
    }
    assert not differences, (character_class, differences)


def test_the_portability_check_refuses_what_engines_read_differently():
    for pattern in (
        r"^[^@\s]+$",
        r"^\d+$",
        r"^\w+$",
        r"^a\b$",
        r"^.+$",
        r"^(?i)a$",
        r"^a(?=b)$",
        r"^[a[b]]$",
        r"^[a-z&&[^x]]$",
        r"^a$|^b$",
        r"^\p{L}$",
        r"[a-z]+",
    ):
        assert _portability_problem(pattern) is not None, pattern
    assert _portability_problem(r"^[^@\x00\u3000]+@[A-Za-z0-9._:~@=+-]{0,9}(-[a-z]+)*\.x$") is None


# What the document says, and what the server does ------------------------------------------


def _operation(app: str, method: str, path: str) -> dict:
    return _documents()[app]["paths"][path][method]


def _schema_validator(app: str, schema: dict) -> Any:
    # The document's components come along, so that `$ref`s resolve as a client resolves them.
    root = {**schema, "components": _documents()[app]["components"]}
    return jsonschema_rs.Draft202012Validator(root)


def _published_parameter(app: str, method: str, path: str, name: str) -> Any:
    (parameter,) = [p for p in _operation(app, method, path)["parameters"] if p["name"] == name]
    return _schema_validator(app, parameter["schema"])


def _published_body(app: str, method: str, path: str) -> Any:
    content = _operation(app, method, path)["requestBody"]["content"]
    return _schema_validator(app, content["application/json"]["schema"])


OWNERS = [
    "rep@example.com",
    "rep\u0085@example.com",  # NEXT LINE: the issue's case (ECMA-262's \s leaves it out)
    "rep\u00a0@example.com",
    "rep\u3000@example.com",
    "rep\ufeff@example.com",  # ECMA-262's \s takes it; not Unicode White_Space
    "rep\u001c@example.com",  # Python's \s takes it; not Unicode White_Space
    "rep@exa mple.com",
]


async def test_the_owner_filter_takes_what_its_published_pattern_takes(gateway):
    published = _published_parameter("gateway", "get", "/v1/deals", "owner")
    assert not published.is_valid("rep\u0085@example.com")

    for owner in OWNERS:
        response = await gateway.get("/v1/deals", params={"owner": owner}, headers=VIEWER)
        assert response.status_code in (200, 422), response.text
        assert (response.status_code == 200) == published.is_valid(owner), (owner, response.text)


async def test_a_commitments_owner_filter_takes_what_its_published_pattern_takes(commitments):
    published = _published_parameter("commitments", "get", "/commitments", "owner")

    for owner in OWNERS:
        response = await commitments.get("/commitments", params={"owner": owner})
        assert response.status_code in (200, 422), response.text
        assert (response.status_code == 200) == published.is_valid(owner), (owner, response.text)


async def test_a_path_segment_with_a_trailing_newline_does_not_route(roadmap):
    published = _published_parameter("roadmap", "get", "/items/{key}", "key")
    await roadmap.post("/items", json={"key": "RM-12", "title": "SSO"})

    assert published.is_valid("RM-12")
    assert not published.is_valid("RM-12\n")
    assert (await roadmap.get("/items/RM-12")).status_code == 200
    assert (await roadmap.get("/items/RM-12%0A")).status_code == 404


@pytest.mark.parametrize("title", ["SSO", "  SSO  ", " ", "\u0085", "\u3000", "\t\n", "\ufeff"])
async def test_a_stripped_text_is_blank_for_the_document_as_for_the_server(roadmap, title):
    published = _published_body("roadmap", "post", "/items")
    body = {"key": "RM-7", "title": title}

    response = await roadmap.post("/items", json=body)

    assert response.status_code in (201, 422), response.text
    assert (response.status_code == 201) == published.is_valid(body), response.text


@pytest.mark.parametrize(
    "amount",
    ["250000.00", "0", "9999999999999999.99", 250000, 250000.5, "1e3", " 12", "1_000", "-1", ".5"],
)
async def test_a_deal_amount_is_taken_exactly_when_the_document_says(commitments, amount):
    published = _published_body("commitments", "put", "/crm-events/{source}/{event_id}")
    event = crm_event(promise(), amount=amount)

    response = await commitments.put(f"/crm-events/generic/{new_event_id()}", json=event)

    assert response.status_code in (200, 422), response.text
    assert (response.status_code == 200) == published.is_valid(event), response.text


UNKNOWN_COMMITMENT = "0b8e8c1e-2d4f-4c55-9a53-5d2b1c7e9f10"


@pytest.mark.parametrize(
    ("decision", "comment"),
    [("approve", ""), ("reject", "Not this quarter."), ("reject", ""), ("reject", " \u0085")],
)
async def test_a_rejection_needs_a_comment_in_the_document_too(commitments, decision, comment):
    published = _published_body("commitments", "post", "/commitments/{commitment_id}/decisions")
    body = {"decision": decision, "comment": comment, "decided_by": "ana@example.com", "role": "pm"}

    response = await commitments.post(f"/commitments/{UNKNOWN_COMMITMENT}/decisions", json=body)

    # A body the server takes reaches the lookup of a commitment that does not exist.
    assert response.status_code in (404, 422), response.text
    assert (response.status_code == 404) == published.is_valid(body), response.text


@pytest.mark.parametrize(
    ("outcome", "conflicts"),
    [("evaluated", []), ("evaluated", ["custom_work"]), ("roadmap_unreachable", []),
     ("roadmap_unreachable", ["custom_work"])],
)  # fmt: skip
async def test_an_unreachable_roadmap_carries_no_conflicts_in_the_document_too(
    commitments, outcome, conflicts
):
    published = _published_body("commitments", "post", "/commitments/{commitment_id}/evaluations")
    body = {
        "claim_token": "9f1c2b7e4d3a4c8e9b0a1f2e3d4c5b6a",
        "evaluated_version": 1,
        "work_generation": 1,
        "outcome": outcome,
        "conflicts": [
            {"code": code, "severity": "blocker", "message": "Custom work.", "needs_signoff": True}
            for code in conflicts
        ],
    }

    response = await commitments.post(f"/commitments/{UNKNOWN_COMMITMENT}/evaluations", json=body)

    assert response.status_code in (404, 422), response.text
    assert (response.status_code == 404) == published.is_valid(body), response.text


@pytest.mark.parametrize(
    "cursor",
    ["", "garbage", f"0_{UNKNOWN_COMMITMENT}", f"99999999999999999_{UNKNOWN_COMMITMENT}",
     f"123_{UNKNOWN_COMMITMENT.upper()}", f"999999999999999999_{UNKNOWN_COMMITMENT}"],
)  # fmt: skip
async def test_any_aging_cursor_the_document_admits_is_taken(commitments, cursor):
    published = _published_parameter("commitments", "get", "/reports/aging", "cursor")

    response = await commitments.get("/reports/aging", params={"sla_hours": 24, "cursor": cursor})

    assert response.status_code in (200, 422), response.text
    assert (response.status_code == 200) == published.is_valid(cursor), response.text


@pytest.mark.parametrize("versions", [{"RM-12": 3}, {"rm-12": 3}, {"RM-12": -1}])
async def test_evaluated_item_versions_are_keyed_by_item_key_in_the_document_too(
    commitments, versions
):
    published = _published_body("commitments", "post", "/commitments/{commitment_id}/evaluations")
    body = {
        "claim_token": "9f1c2b7e4d3a4c8e9b0a1f2e3d4c5b6a",
        "evaluated_version": 1,
        "work_generation": 1,
        "roadmap_item_versions": versions,
    }

    response = await commitments.post(f"/commitments/{UNKNOWN_COMMITMENT}/evaluations", json=body)

    assert response.status_code in (404, 422), response.text
    assert (response.status_code == 404) == published.is_valid(body), response.text

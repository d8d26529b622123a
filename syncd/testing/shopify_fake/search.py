"""Shopify search syntax, the part the fake needs: ``a:x b:>'t' OR c:"y"`` (OR binds loosest).

Unknown fields are an error here (Shopify would ignore them with a warning) so that a
connector relying on a filter the fake does not implement fails loudly instead of silently
reading everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from syncd.cursor import parse_time

_TOKEN = re.compile(
    r"""\s*(?:(?P<bool>OR|AND)(?=\s|$)|(?P<neg>-?)(?P<field>\w+):(?P<op>>=|<=|>|<)?"""
    r"""(?P<value>"(?:[^"\\]|\\.)*"|'[^']*'|[^\s]+))"""
)


class SearchError(ValueError):
    """The query string cannot be understood."""


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    value: str
    negate: bool = False


def parse(text: str | None) -> list[list[Term]]:
    """OR-groups of AND-ed terms; an empty query matches everything (``[[]]``)."""
    groups: list[list[Term]] = [[]]
    pos = 0
    text = text or ""
    while pos < len(text):
        if not text[pos:].strip():
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise SearchError(f"cannot parse search query near {text[pos:pos + 20]!r}")
        pos = match.end()
        if match.group("bool") == "OR":
            groups.append([])
            continue
        if match.group("bool") == "AND":
            continue
        raw = match.group("value")
        if raw[:1] == '"':
            value = re.sub(r"\\(.)", r"\1", raw[1:-1])
        elif raw[:1] == "'":
            value = raw[1:-1]
        else:
            value = raw
        groups[-1].append(Term(match.group("field").lower(), match.group("op") or "=",
                               value, bool(match.group("neg"))))
    return groups


Getter = Callable[[Any], Any]


def _compare(actual: Any, term: Term) -> bool:
    if isinstance(actual, datetime):
        wanted = parse_time(term.value)
        if wanted is None:
            raise SearchError(f"bad time {term.value!r}")
        return {
            "=": actual == wanted, ">": actual > wanted, ">=": actual >= wanted,
            "<": actual < wanted, "<=": actual <= wanted,
        }[term.op]
    if term.op != "=":
        raise SearchError(f"{term.field} does not take {term.op}")
    options = [v.strip().lower() for v in term.value.split(",")]
    if isinstance(actual, (set, frozenset, list, tuple)):
        return any(str(a).lower() in options for a in actual)
    return str(actual).lower() in options if actual is not None else False


def matcher(text: str | None, fields: Mapping[str, Getter]) -> Callable[[Any], bool]:
    """A predicate over records; ``fields`` maps search field -> value getter."""
    groups = parse(text)
    for group in groups:
        for term in group:
            if term.field not in fields:
                raise SearchError(f"the fake does not support the search field {term.field!r}")

    def match(record: Any) -> bool:
        for group in groups:
            if all(_compare(fields[t.field](record), t) != t.negate for t in group):
                return True
        return False

    return match

"""The curated battery: hostile inputs docs/conventions.md §4 names, each on a body that is
otherwise valid.

Every request changes one thing of a valid request (a valid conversation ends at ``now``),
so the answer says how the target treats that one input. docs/conventions.md §4: every input
a client can send gets 2xx or a clear 4xx, never 5xx. The admin route is only ever called without
a token or with a wrong one: the fuzz never runs the nightly job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from harness.fuzz.model import FuzzRequest
from harness.fuzz.raw import (
    LONE_HIGH,
    LONE_LOW,
    NUL,
    Path,
    deep_list,
    deep_object,
    drop,
    json_string,
    raw_json,
)

END = "/v1/conversations/end"
SUGGEST = "/v1/activities/suggest"
ADMIN = "/v1/admin/nightly"
JSON = {"content-type": "application/json"}
MAX_BODY = 1024 * 1024  # docs/conventions.md §4: 413 above 1 MiB
LIMIT_LITERALS = (
    "NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1e308", "100000000000000000000000000000",
    "9" * 5000, "-9223372036854775809", "-1", "0", "11", "3.5", '"3"', "true", "null",
)  # fmt: skip
EXTREME_DATETIMES = (
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-10:00", "2099-01-01T00:00:00Z", "1970-01-01T00:00:00Z",
    "2026-02-30T00:00:00Z", "not-a-date", "1e400", "-100000000000",
)  # fmt: skip
HOSTILE_TEXT = {
    "lone high surrogate": LONE_HIGH,
    "lone low surrogate": LONE_LOW,
    "surrogate then text": f"a{LONE_HIGH}b",
    "NUL": f"a{NUL}b",
}
PATH_IDS = {
    "NUL": "u%00x", "lone surrogate (CESU-8)": "%ED%A0%80", "invalid UTF-8": "%FF%FE",
    "encoded slash": "a%2Fb", "traversal": "..%2F..%2Fetc%2Fpasswd", "10000 chars": "x" * 10000,
    "space": "a%20b",
}  # fmt: skip


@dataclass
class Battery:
    """Builds the battery for one target; ``tag`` keeps its ids apart from other runs."""

    now: datetime
    tag: str
    _n: int = 0

    def cid(self) -> str:
        self._n += 1
        return f"fz-{self.tag}-{self._n}"

    def conversation(self, messages: int = 2) -> dict[str, object]:
        end = self.now.replace(microsecond=0)
        start = end - timedelta(minutes=5)
        iso = "%Y-%m-%dT%H:%M:%SZ"
        return {
            "conversation_id": self.cid(),
            "user_id": f"fz-user-{self.tag}",
            "agent_id": "fz-agent",
            "started_at": start.strftime(iso),
            "ended_at": end.strftime(iso),
            "messages": [
                {
                    "role": "user" if i % 2 == 0 else "assistant",
                    "content": "I love music, do you?" if i % 2 == 0 else "Yes!",
                    "ts": (start + timedelta(seconds=i)).strftime(iso),
                }
                for i in range(messages)
            ],
        }

    def suggest(self) -> dict[str, object]:
        return {"user_id": f"fz-user-{self.tag}", "agent_id": "fz-agent", "limit": 3}


def _post(
    name: str, path: str, body: bytes | None, headers: dict[str, str] | None = None
) -> FuzzRequest:
    return FuzzRequest(
        "battery", name, "POST", path, body, dict(JSON if headers is None else headers)
    )


def limits(b: Battery) -> list[FuzzRequest]:
    return [
        _post(f"limit={lit[:20]}", SUGGEST, raw_json(b.suggest(), {("limit",): lit}))
        for lit in LIMIT_LITERALS
    ]


def hostile_text(b: Battery) -> list[FuzzRequest]:
    """Lone surrogates and NUL in every id and in a message's content."""
    out: list[FuzzRequest] = []
    for what, text in HOSTILE_TEXT.items():
        lit = json_string(text)
        for field in ("conversation_id", "user_id", "agent_id"):
            body = raw_json(b.conversation(), {(field,): lit})
            out.append(_post(f"{what} in {field}", END, body))
        content = ("messages", 0, "content")
        out.append(_post(f"{what} in content", END, raw_json(b.conversation(), {content: lit})))
        suggest = raw_json(b.suggest(), {("user_id",): lit})
        out.append(_post(f"{what} in suggest user_id", SUGGEST, suggest))
    return out


def datetimes(b: Battery) -> list[FuzzRequest]:
    """Each extreme as the whole conversation's instant, then as one message's ts only."""
    out: list[FuzzRequest] = []
    for value in EXTREME_DATETIMES:
        lit = value if value[0] in "-1" and "T" not in value else json_string(value)
        fields: list[Path] = [("started_at",), ("ended_at",), ("messages", 0, "ts")]
        fields.append(("messages", 1, "ts"))
        every = raw_json(b.conversation(), dict.fromkeys(fields, lit))
        out.append(_post(f"all datetimes {value}", END, every))
        ts_only = raw_json(b.conversation(), {("messages", 0, "ts"): lit})
        out.append(_post(f"message ts {value}", END, ts_only))
    return out


def paths(b: Battery) -> list[FuzzRequest]:
    """Hostile ids in the URL path (percent-encoded as a client would send them)."""
    out = [
        FuzzRequest("battery", f"path user_id {what}", "GET", f"/v1/friendships/{raw}/a")
        for what, raw in PATH_IDS.items()
    ]
    out.append(FuzzRequest("battery", "path agent_id NUL", "GET", "/v1/friendships/u/%00"))
    out.append(FuzzRequest("battery", "path missing agent_id", "GET", "/v1/friendships/u"))
    out.append(FuzzRequest("battery", "PUT on end", "PUT", END, b"{}", dict(JSON)))
    out.append(FuzzRequest("battery", "DELETE friendship", "DELETE", "/v1/friendships/u/a"))
    return out


CONTENT: Path = ("messages", 0, "content")
PAD = "x" * (MAX_BODY + 1024)
EDITS: dict[str, tuple[Path, str]] = {
    "deep object in user_id (5000)": (("user_id",), deep_object(5000)),
    "content over 1 MiB": (CONTENT, json_string(PAD)),
    "content: 8001 chars": (CONTENT, json_string("y" * 8001)),
    "conversation_id: 65 chars": (("conversation_id",), json_string("c" * 65)),
    "user_id: 129 chars": (("user_id",), json_string("u" * 129)),
    "ended_at before started_at": (("started_at",), json_string("2100-01-01T00:00:00Z")),
    "conversation_id: int": (("conversation_id",), "123"),
    "user_id: list": (("user_id",), '["u"]'),
    "messages: object": (("messages",), "{}"),
    "messages: string": (("messages",), '"hi"'),
    "messages: 0": (("messages",), "[]"),
    "role: system": (("messages", 0, "role"), '"system"'),
    "content: int": (CONTENT, "5"),
    "ts: object": (("messages", 0, "ts"), "{}"),
    "conversation_id: empty": (("conversation_id",), '""'),
    "user_id: empty": (("user_id",), '""'),
    "agent_id: null": (("agent_id",), "null"),
}


def shapes(b: Battery) -> list[FuzzRequest]:
    """Nesting, sizes, wrong types, empty and missing fields."""
    out = [
        _post(name, END, raw_json(b.conversation(), {p: lit})) for name, (p, lit) in EDITS.items()
    ]
    out.append(_post("deep list body (100000)", END, deep_list(100_000)))
    limit = raw_json(b.suggest(), {("limit",): deep_object(500)})
    out.append(_post("deep object in limit (500)", SUGGEST, limit))
    out.append(_post("body over 1 MiB", END, raw_json({**b.conversation(), "padding": PAD})))
    out.append(_post("messages: 501", END, raw_json(b.conversation(messages=501))))
    for field in ("conversation_id", "user_id", "messages", "started_at"):
        out.append(_post(f"missing {field}", END, raw_json(drop(b.conversation(), field))))
    out += [_post(f"body {lit}", END, lit.encode()) for lit in ("{}", "[]", '"str"', "null", "42")]
    out.append(_post("suggest: missing limit and agent_id", SUGGEST, b'{"user_id":"u"}'))
    return out


BAD_JSON = {
    "empty body": b"",
    "truncated JSON": b'{"conversation_id":',
    "single quotes": b"{'user_id': 'u'}",
    "trailing comma": b'{"user_id":"u",}',
    "binary": b"\xff\xfe\x00\x01",
    "bare NaN": b"NaN",
    "invalid UTF-8 in a string": b'{"conversation_id":"\xff\xfe"}',
}
CONTENT_TYPES = (
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
    "application/xml",
    "application/json; charset=utf-16",
)


def encodings(b: Battery) -> list[FuzzRequest]:
    """Invalid JSON and wrong content types (the body otherwise a valid conversation)."""
    out = [_post(name, END, body) for name, body in BAD_JSON.items()]
    out.append(_post("BOM then JSON", END, b"\xef\xbb\xbf" + raw_json(b.conversation())))
    for ct in CONTENT_TYPES:
        out.append(
            _post(f"content-type {ct}", END, raw_json(b.conversation()), {"content-type": ct})
        )
    out.append(_post("form body", END, b"user_id=u&agent_id=a", {"content-type": CONTENT_TYPES[1]}))
    out.append(_post("no content-type", END, raw_json(b.conversation()), {}))
    return out


ADMIN_AUTHS = {
    "no token": None,
    "wrong token": "Bearer wrong",
    "empty bearer": "Bearer",  # "Bearer " with its space: h11 refuses to send it
    "basic auth": "Basic dXNlcjpwYXNz",
    "lower-case scheme": "bearer wrong",
    "8000-char token": "Bearer " + "t" * 8000,
}


def admin(b: Battery) -> list[FuzzRequest]:
    """The admin route with no token and with wrong ones; never the stack's real token."""
    out = []
    for name, auth in ADMIN_AUTHS.items():
        headers = dict(JSON) | ({"authorization": auth} if auth else {})
        out.append(_post(f"admin {name}", ADMIN, b"{}", headers))
    late = raw_json({"now": "9999-12-31T23:59:59-10:00"})
    out.append(_post("admin no token, now 9999-12-31T23:59:59-10:00", ADMIN, late))
    return out


def build_battery(now: datetime, tag: str) -> list[FuzzRequest]:
    """The whole battery for one target, in a fixed order (datetimes relative to ``now``)."""
    b = Battery(now=now, tag=tag)
    parts = (limits, hostile_text, datetimes, paths, shapes, encodings, admin)
    return [request for part in parts for request in part(b)]

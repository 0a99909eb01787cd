"""One target's fuzz result, its verdict, and the run's ``fuzz.json`` + ``fuzz.md``.

Verdict per target (docs/conventions.md §4: every client input gets 2xx or a clear 4xx, never 5xx):
**pass** iff no answer was a 5xx, no request went unanswered (a dropped connection or a
timeout is a failure a status code would hide) and no P0 alert card was posted while the
fuzz ran. 429s are counted apart and do not fail a target: they measure the pacing.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.fuzz.model import SOURCES, Outcome, describe, truncate
from harness.markdown import table

FUZZ_JSON = "fuzz.json"
FUZZ_MD = "fuzz.md"
CARD_TEXT_CHARS = 300
MD_LISTED = 40  # fuzz.md lists at most this many 5xx per target (fuzz.json has them all)


@dataclass
class TargetFuzz:
    """What one target answered, and the cards its webhook fake received meanwhile."""

    target: str
    base_url: str
    outcomes: list[Outcome] = field(default_factory=list)
    new_cards: list[dict[str, Any]] = field(default_factory=list)
    openapi: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0
    stopped_early: bool = False  # the time budget ran out before every request was sent
    expected_to_pass: bool = True

    def server_errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is not None and o.status >= 500]

    def unanswered(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.status is None and o.sent]

    def not_sent(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.sent]

    def p0_cards(self) -> list[dict[str, Any]]:
        return [c for c in self.new_cards if c.get("level") == "P0"]

    def reasons(self) -> list[str]:
        found = [
            (len(self.server_errors()), "5xx answer(s)"),
            (len(self.unanswered()), "request(s) without an answer"),
            (len(self.p0_cards()), "P0 alert card(s)"),
        ]
        return [f"{n} {what}" for n, what in found if n]

    @property
    def passed(self) -> bool:
        return not self.reasons() and bool(self.outcomes)

    def _failure(self, outcome: Outcome) -> dict[str, Any]:
        """The failed request, and the one sent just before it: a request that breaks a
        keep-alive connection can make the next one through the LB fail instead (502)."""
        shown: dict[str, Any] = {"status": outcome.status, "request": describe(outcome.request)}
        if outcome.error:
            shown["error"] = outcome.error
        shown["elapsed_ms"] = outcome.elapsed_ms
        index = next(i for i, o in enumerate(self.outcomes) if o is outcome)
        if index > 0:
            before = self.outcomes[index - 1]
            shown["previous"] = {"name": before.request.name, "status": _status(before)}
        return shown

    def to_dict(self) -> dict[str, Any]:
        by_source = {s: [o for o in self.outcomes if o.request.source == s] for s in SOURCES}
        return {
            "target": self.target,
            "base_url": self.base_url,
            "verdict": "pass" if self.passed else "fail",
            "expected_to_pass": self.expected_to_pass,
            "reasons": self.reasons() or ([] if self.outcomes else ["no request was sent"]),
            "requests": {s: len(v) for s, v in by_source.items()} | {"total": len(self.outcomes)},
            "status_counts": {s: status_counts(v) for s, v in by_source.items()},
            "rate_limited_429": {s: sum(o.status == 429 for o in v) for s, v in by_source.items()},
            "server_errors": [self._failure(o) for o in self.server_errors()],
            "unanswered": [self._failure(o) for o in self.unanswered()],
            "not_sent": [self._failure(o) for o in self.not_sent()],
            "p0_cards": [_card(c) for c in self.p0_cards()],
            "cards_by_level": dict(Counter(str(c.get("level")) for c in self.new_cards)),
            "source_addresses": len({o.local_address for o in self.outcomes}),
            "openapi": self.openapi,
            "duration_s": round(self.duration_s, 1),
            "stopped_early": self.stopped_early,
        }


def _status(outcome: Outcome) -> str:
    if outcome.status is not None:
        return str(outcome.status)
    return "no answer" if outcome.sent else "not sent"


def status_counts(outcomes: Iterable[Outcome]) -> dict[str, int]:
    counts = Counter(_status(o) for o in outcomes)
    return dict(sorted(counts.items()))


def _card(card: dict[str, Any]) -> dict[str, Any]:
    body = json.dumps(card.get("body"), ensure_ascii=True)
    return {
        "title": card.get("title"),
        "received_at": card.get("received_at"),
        "body": truncate(body, CARD_TEXT_CHARS),
    }


def run_passed(targets: Sequence[TargetFuzz]) -> bool:
    """The run's exit: every target expected to pass (refactored) passed; legacy may fail."""
    expected = [t for t in targets if t.expected_to_pass]
    return bool(targets) and all(t.passed for t in expected)


def write_fuzz(run_dir: Path, header: dict[str, Any], targets: Sequence[TargetFuzz]) -> Path:
    """Write ``fuzz.json`` (everything) and ``fuzz.md`` (the summary); returns fuzz.json."""
    data = {
        **header,
        "passed": run_passed(targets),
        "targets": {t.target: t.to_dict() for t in targets},
    }
    path = run_dir / FUZZ_JSON
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=True) + "\n")
    tmp.replace(path)
    (run_dir / FUZZ_MD).write_text(render_markdown(data))
    return path


def render_markdown(data: dict[str, Any]) -> str:
    lines = [
        f"# Fuzz run {data.get('run_id', '')}",
        "",
        "Schemathesis over each target's OpenAPI plus the battery of hostile inputs "
        "(docs/fuzz.md). A target passes iff no 5xx, no unanswered request and no P0 card.",
        "",
    ]
    rows = []
    for name, t in data["targets"].items():
        req = t["requests"]
        statuses = Counter[str]()
        for counts in t["status_counts"].values():
            statuses.update(counts)
        shown = ", ".join(f"{k}: {v}" for k, v in sorted(statuses.items()))
        rows.append([
            name, f"{t['verdict']}{'' if t['expected_to_pass'] else ' (expected)'}",
            f"{req['schemathesis']} / {req['battery']}", len(t["server_errors"]),
            len(t["unanswered"]), sum(t["rate_limited_429"].values()), len(t["p0_cards"]), shown,
        ])  # fmt: skip
    header = ["target", "verdict", "requests (schemathesis / battery)", "5xx", "unanswered",
              "429", "P0 cards", "statuses"]  # fmt: skip
    lines += table(header, rows)
    for name, t in data["targets"].items():
        lines += _failures_md(name, t)
    lines.append("")
    return "\n".join(lines)


def _failures_md(name: str, t: dict[str, Any]) -> list[str]:
    failures = t["server_errors"] + t["unanswered"]
    if not failures and not t["p0_cards"]:
        return []
    out = ["", f"## {name}: {'; '.join(t['reasons'])}", ""]
    for f in failures[:MD_LISTED]:
        r = f["request"]
        what = f["status"] if f["status"] is not None else f.get("error", "no answer")
        shown = "" if r["body"] is None else truncate(r["body"], 120).replace("`", "'")
        body = f" body `{shown}`" if shown else ""
        after = f" (after `{f['previous']['name']}`)" if "previous" in f else ""
        out.append(
            f"- **{what}** {r['source']} `{r['name']}`: {r['method']} `{r['path']}`{body}{after}"
        )
    if len(failures) > MD_LISTED:
        out.append(f"- ... {len(failures) - MD_LISTED} more in fuzz.json")
    out += [f"- P0 card: {c['title']}" for c in t["p0_cards"][:MD_LISTED]]
    return out

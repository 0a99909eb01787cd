"""Toxic definitions: types, attribute defaults, validation, and the seeded random choices.

Pure code (no I/O), so it is unit-tested on its own. Attribute names, units and defaults
follow Toxiproxy's documentation; see docs/toxiproxy.md.
"""

from __future__ import annotations

import math
import random
import struct
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

STREAMS = ("upstream", "downstream")

# type -> attribute -> default (all integers, as in Toxiproxy's Go structs)
TOXIC_ATTRIBUTES: dict[str, dict[str, int]] = {
    "latency": {"latency": 0, "jitter": 0},  # ms
    "bandwidth": {"rate": 0},  # KB/s (1 KB = 1000 bytes); <= 0 holds the data (see proxy.py)
    "slow_close": {"delay": 0},  # ms
    "timeout": {"timeout": 0},  # ms; <= 0 = never close while the toxic exists
    "reset_peer": {"timeout": 0},  # ms after the first data
    "slicer": {"average_size": 0, "size_variation": 0, "delay": 0},  # bytes, bytes, µs
    "limit_data": {"bytes": 0},
    "noop": {},  # passes everything through; Toxiproxy's default toxic, accepted by its API
}

# Go decodes attributes into int64/int fields: any integer in this range, negatives included
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


class ApiError(Exception):
    """An error the HTTP API reports as ``{"error": message, "status": status}``."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def bad_request(message: str) -> ApiError:
    return ApiError(message, 400)


def bad_body(detail: str) -> ApiError:
    """Toxiproxy's ``ErrBadRequestBody`` joined with the decoder's error: ``bad request body: …``.

    The part after the colon is this server's own description; Go's decoder words it
    differently (e.g. ``json: cannot unmarshal string into Go struct field …``).
    """
    return ApiError(f"bad request body: {detail}", 400)


def json_kind(value: object) -> str:
    """The JSON kind of a decoded value, as Go's decoder names it in its errors."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


@dataclass
class Toxic:
    """One toxic as the API shows it; ``generation`` changes on every update."""

    name: str
    type: str
    stream: str  # as the client wrote it (Toxiproxy parses it case-insensitively)
    toxicity: float
    attributes: dict[str, int]
    generation: int = field(default=0, compare=False)

    @property
    def direction(self) -> str:
        """``upstream`` or ``downstream``: the stream this toxic acts on."""
        return self.stream.lower()

    def to_json(self) -> dict[str, Any]:
        """``ToxicWrapper``'s JSON: its fields in Go's order, ``toxicity`` as a float32."""
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": float32_json(self.toxicity),
        }


def float32_json(value: float) -> int | float:
    """``value`` as Go marshals a float32: its shortest float32 digits, ``1`` for 1.0.

    A client that reads ``toxicity`` sees what Toxiproxy shows: ``1``, ``0.5``, and
    ``0.12345679`` for 0.123456789 (a float32 keeps about 7 digits).
    """
    single = _as_float32(value)
    if single.is_integer() and abs(single) < 1e21:
        return int(single)
    for digits in range(1, 10):
        shortest = float(f"{single:.{digits}g}")
        if _as_float32(shortest) == single:
            return shortest
    return single


def _as_float32(value: float) -> float:
    """``value`` rounded to the nearest float32 (infinity beyond its range)."""
    try:
        return float(struct.unpack("<f", struct.pack("<f", float(value)))[0])
    except OverflowError:  # beyond float32 (or, for an int, even float64)
        return -math.inf if value < 0 else math.inf


def _toxicity(value: object, current: float) -> float:
    """Toxiproxy keeps ``toxicity`` in a float32 and never range-checks it.

    The draw is ``rand.Float32() < toxicity``, so > 1 always applies and <= 0 never does;
    the value is stored and shown as given (in float32 precision). JSON ``null`` leaves the
    current value, as Go's decoder does; a number beyond float32's range does not decode.
    """
    if value is None:
        return current
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise bad_body(f"toxicity must be a number, got a JSON {json_kind(value)}")
    if math.isinf(_as_float32(value)):  # Python reads 1e400 as infinity; Go refuses it
        raise bad_body("toxicity overflows float32")
    return float(value)


def validate_attributes(
    toxic_type: str, raw: object, current: dict[str, int] | None = None
) -> dict[str, int]:
    """Merge ``raw`` into ``current`` (or the defaults), as Go decodes into the toxic's struct.

    Any integer is accepted, negative ones included (Toxiproxy does not validate them; see
    docs/toxiproxy.md for what each does). A non-integer is a decoding error (400 ``bad
    request body: …``). Unknown keys are ignored and ``null`` leaves a value unchanged, as
    Go's JSON decoding does.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise bad_body(f"attributes must be a JSON object, got a JSON {json_kind(raw)}")
    merged = dict(current if current is not None else TOXIC_ATTRIBUTES[toxic_type])
    for key in TOXIC_ATTRIBUTES[toxic_type]:
        value = raw.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_body(
                f"attribute {key!r} of a {toxic_type} toxic must be an integer, "
                f"got a JSON {json_kind(value)}"
                + (f" ({value!r})" if isinstance(value, float) else "")
            )
        if not INT64_MIN <= value <= INT64_MAX:
            raise bad_body(f"attribute {key!r} of a {toxic_type} toxic overflows int64")
        merged[key] = value
    return merged


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    value = body.get(key)
    if value is not None and not isinstance(value, str):
        raise bad_body(f"{key} must be a string, got a JSON {json_kind(value)}")
    return value


def toxic_from_json(body: object, taken: Collection[str] = ()) -> Toxic:
    """Build a new toxic from a POST /proxies/{proxy}/toxics body, in Toxiproxy's order.

    ``AddToxicJson`` decodes the wrapper (type errors: 400 ``bad request body: …``), then
    checks the stream (400), fills the default name, checks the type (400), refuses a name
    in ``taken`` (409) and only then decodes the attributes (400).
    """
    if body is None:
        body = {}  # JSON null decodes to nothing: every default applies
    if not isinstance(body, dict):
        raise bad_body(f"expected a JSON object, got a JSON {json_kind(body)}")
    name = _optional_string(body, "name")
    toxic_type = _optional_string(body, "type")
    stream = _optional_string(body, "stream")
    toxicity = _toxicity(body.get("toxicity"), 1.0)
    raw_attributes = body.get("attributes")
    if raw_attributes is not None and not isinstance(raw_attributes, dict):
        raise bad_body(f"attributes must be a JSON object, got a JSON {json_kind(raw_attributes)}")
    stream = "downstream" if stream is None else stream
    if stream.lower() not in STREAMS:
        raise bad_request("stream was invalid, can be either upstream or downstream")
    name = name or f"{toxic_type or ''}_{stream}"
    if toxic_type is None or toxic_type not in TOXIC_ATTRIBUTES:
        raise bad_request("invalid toxic type")
    if name in taken:
        raise ApiError("toxic already exists", 409)
    attributes = validate_attributes(toxic_type, raw_attributes)
    return Toxic(name, toxic_type, stream, toxicity, attributes)


def update_toxic(toxic: Toxic, body: object) -> Toxic:
    """Apply a POST/PATCH /proxies/{proxy}/toxics/{toxic} body: attributes and/or toxicity.

    Every successful update restarts the toxic on open connections (``generation`` + 1), as
    Toxiproxy's ``UpdateToxic`` does, even when nothing changed (a JSON ``null`` body).
    """
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad_body(f"expected a JSON object, got a JSON {json_kind(body)}")
    toxicity = _toxicity(body.get("toxicity"), toxic.toxicity)
    attributes = validate_attributes(toxic.type, body.get("attributes"), toxic.attributes)
    return Toxic(toxic.name, toxic.type, toxic.stream, toxicity, attributes, toxic.generation + 1)


def toxic_applies(seed: int, proxy: str, connection: int, toxic: Toxic) -> bool:
    """Decide, reproducibly, whether ``toxic`` acts on one connection (its ``toxicity``).

    The draw depends only on the server seed and the names/ordinals involved, never on the
    order in which concurrent events happen, so a run with the same seed and the same
    connection sequence replays exactly.
    """
    if toxic.toxicity >= 1.0:
        return True
    if toxic.toxicity <= 0.0:
        return False
    rng = random.Random(f"{seed}/{proxy}/{connection}/{toxic.name}/{toxic.generation}")
    return rng.random() < toxic.toxicity


def connection_rng(seed: int, proxy: str, connection: int, stream: str) -> random.Random:
    """The random source for jitter and slice sizes of one direction of one connection."""
    return random.Random(f"{seed}/{proxy}/{connection}/{stream}/data")


def latency_delay_ms(attributes: dict[str, int], rng: random.Random) -> float:
    jitter = attributes["jitter"]
    delay = attributes["latency"]
    if jitter > 0:
        delay += rng.randint(-jitter, jitter)
    return float(max(0, delay))


def slice_sizes(length: int, average: int, variation: int, rng: random.Random) -> list[int]:
    """Split ``length`` bytes into slices of ``average`` ± ``variation`` bytes (>= 1 each)."""
    if average <= 0:
        return [length] if length else []
    sizes: list[int] = []
    remaining = length
    while remaining > 0:
        size = average + (rng.randint(-variation, variation) if variation > 0 else 0)
        size = max(1, min(size, remaining))
        sizes.append(size)
        remaining -= size
    return sizes

"""The two targets the harness drives, and the one parser of a target list.

Every command (``up``, ``chaos``, ``load``, ``fuzz``, the supervisor) reads ``--target``
/ ``$TARGET`` through :func:`parse_targets`, so each accepts the same spellings:
``both`` (or ``all``, or nothing), ``legacy``, ``refactored``, ``legacy,refactored``.
"""

from __future__ import annotations

TARGETS: tuple[str, ...] = ("legacy", "refactored")
_EVERY = ("", "both", "all")


class UnknownTargetError(ValueError):
    def __init__(self, target: str) -> None:
        super().__init__(
            f"unknown target {target!r}; choose both, legacy, refactored (or legacy,refactored)"
        )


def check_target(target: str) -> str:
    """``target`` itself when it names a target, else :class:`UnknownTargetError`."""
    if target not in TARGETS:
        raise UnknownTargetError(target)
    return target


def parse_targets(spec: str) -> tuple[str, ...]:
    """``both`` | ``all`` | ``""`` | ``legacy`` | ``refactored`` | ``a,b`` -> the targets, in
    :data:`TARGETS` order, each once."""
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    if len(wanted) <= 1 and (wanted[0] if wanted else "") in _EVERY:
        return TARGETS
    for name in wanted:
        check_target(name)
    return tuple(t for t in TARGETS if t in wanted)

"""The resilience checklist's schema (pydantic): items, the five kinds of evidence, targets.

It imports no check: the names a ``static``, ``config`` or ``probe`` evidence may use are
passed in as the validation context (``known_checks``) by :func:`harness.checklist.load_checklist`,
which sits above both this schema and the evidence modules.

The seed's "checklist before deploy" made executable: one item per fix, each
naming its evidence. Five kinds of evidence:

- ``static``: a named check of the target's code (``harness.evidence.static``);
- ``config``: a named check of the target's effective settings (``harness.evidence.config``);
- ``dynamic``: named expectations of a scenario in the newest chaos or load run;
- ``contracts``: the newest contract run's summary (legacy and refactored score alike);
- ``probe``: a named check of the behavioural probe (``harness.evidence.behaviour``).

Every error names the file and the item so the user knows what to fix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from testbed.timeouts import APP_DEADLINE_S, LB_TIMEOUT_S

DEFAULT_CHECKLIST = Path("resilience-checklist.toml")
ALL_RESILIENCE: Final = "all"  # dynamic evidence: every resilience expectation of the scenario


class ChecklistError(ValueError):
    """The checklist file is missing, not TOML, or does not describe a valid checklist."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StaticEvidence(_Strict):
    kind: Literal["static"]
    check: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("check")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        return _known_name("static", name, info)

    def label(self) -> str:
        return f"static:{self.check}"


class ConfigEvidence(_Strict):
    kind: Literal["config"]
    check: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("check")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        return _known_name("config", name, info)

    def label(self) -> str:
        return f"config:{self.check}"


class DynamicEvidence(_Strict):
    """Expectations of one scenario in the newest run of ``run`` kind.

    ``expectations`` are the target-independent names the scenario evaluates on
    both targets (docs/conventions.md §13), or ``"all"`` for every resilience expectation.
    They are checked against the results at gate time (the scenarios own them).
    """

    kind: Literal["dynamic"]
    run: Literal["chaos", "load"]
    scenario: Annotated[str, Field(min_length=1)]
    expectations: list[Annotated[str, Field(min_length=1)]] | Literal["all"] = ALL_RESILIENCE

    @field_validator("expectations")
    @classmethod
    def _not_empty(cls, value: Any) -> Any:
        if isinstance(value, list) and not value:
            raise ValueError('name at least one expectation, or "all"')
        return value

    def label(self) -> str:
        names = "all" if self.expectations == ALL_RESILIENCE else ",".join(self.expectations)
        return f"{self.run}:{self.scenario}[{names}]"


class ContractsEvidence(_Strict):
    """The newest ``reports/contracts/*/summary.json`` of the tree under judgement: zero
    mismatches between legacy and refactored, over at least this many examples and
    replayed requests (a run that compared next to nothing proves nothing)."""

    kind: Literal["contracts"]
    min_examples: int = Field(default=200, ge=1)
    min_requests: int = Field(default=40, ge=0)

    def label(self) -> str:
        return f"contracts[examples>={self.min_examples},requests>={self.min_requests}]"


class ProbeEvidence(_Strict):
    """A named check of the behavioural probe (``harness.evidence.behaviour``): the target's
    app served in a child process, the fakes as real servers, measured from outside."""

    kind: Literal["probe"]
    check: str
    params: dict[str, Any] = Field(default_factory=dict)

    @field_validator("check")
    @classmethod
    def _known(cls, name: str, info: ValidationInfo) -> str:
        return _known_name("probe", name, info)

    def label(self) -> str:
        return f"probe:{self.check}"


Evidence = Annotated[
    StaticEvidence | ConfigEvidence | DynamicEvidence | ContractsEvidence | ProbeEvidence,
    Field(discriminator="kind"),
]


class Item(_Strict):
    id: Annotated[str, Field(min_length=1)]
    title: Annotated[str, Field(min_length=1)]
    why: Annotated[str, Field(min_length=1)]
    evidence: Annotated[list[Evidence], Field(min_length=1)]


class TargetProbe(_Strict):
    """How the behavioural probe builds and serves the target (``[targets.<t>.probe]``).

    ``env`` is the app's environment; ``{llm}``, ``{memory}`` (the fakes' base URLs) and
    ``{database_url}`` (a scratch database, migrated) are filled in. The probe speaks the
    service's HTTP API (docs/conventions.md §4)."""

    env: dict[str, str] = Field(default_factory=dict)
    time_scale: float = Field(default=0.05, gt=0)  # TIME_SCALE of the probed app
    ca_bundle_env: str | None = None  # the setting naming a CA bundle (None: the target has none)
    admin_token: str | None = None  # Bearer token of POST /v1/admin/nightly (the nightly job)


class TargetSpec(_Strict):
    """How the gate finds a target's code and settings (so users can point it at theirs)."""

    package: str  # directory of the package, relative to the repository root
    app_factory: str  # "module:function" returning the ASGI app; reads the environment
    settings: str | None = None  # "module:Class" of its settings (pydantic-settings or plain)
    # logical name -> attribute of the settings object (absent: the target has no such setting)
    settings_fields: dict[str, str] = Field(default_factory=dict)
    # logical name -> value fixed in code rather than in settings (e.g. a library default)
    settings_values: dict[str, float] = Field(default_factory=dict)
    # environment needed to build the settings without a deployment (placeholders, no I/O)
    probe_env: dict[str, str] = Field(default_factory=dict)
    probe: TargetProbe | None = None  # the behavioural probe (harness.evidence.behaviour)


class Deployment(_Strict):
    """Production numbers of what runs around the app; the gate scales them by TIME_SCALE."""

    lb_timeout_s: float = Field(default=LB_TIMEOUT_S, gt=0)
    gunicorn_timeout_s: float = Field(default=APP_DEADLINE_S, gt=0)
    workers: int = Field(default=2, ge=1)
    # the database server the service will use, when the gate has no DATABASE_URL to ask
    max_connections: int | None = Field(default=None, ge=1)
    superuser_reserved_connections: int = Field(default=3, ge=0)


class Checklist(_Strict):
    version: Literal[1] = 1
    deployment: Deployment = Deployment()
    targets: dict[str, TargetSpec]
    items: Annotated[list[Item], Field(min_length=1)]

    @field_validator("items")
    @classmethod
    def _unique_ids(cls, items: list[Item]) -> list[Item]:
        seen: set[str] = set()
        for item in items:
            if item.id in seen:
                raise ValueError(f"item id {item.id!r} appears twice")
            seen.add(item.id)
        return items

    def target(self, name: str) -> TargetSpec:
        try:
            return self.targets[name]
        except KeyError:
            known = ", ".join(sorted(self.targets))
            raise ChecklistError(f"unknown target {name!r}; the checklist knows: {known}") from None


KNOWN_CHECKS: Final = "known_checks"  # validation context: evidence kind -> its check names


def _known_name(kind: str, name: str, info: ValidationInfo) -> str:
    """``name`` must be a check of ``kind`` when the validation context lists them (the
    loader always passes them; a test building a checklist in code may not)."""
    known: dict[str, Any] | None = (info.context or {}).get(KNOWN_CHECKS)
    if known is None:
        return name
    table = known[kind]
    if name not in table:
        raise ValueError(f"unknown {kind} check {name!r}; known: {', '.join(sorted(table))}")
    return name

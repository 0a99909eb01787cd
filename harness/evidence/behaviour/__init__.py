"""Probe evidence: the target's behaviour, measured from outside in seconds.

The gate starts the fakes (LLM, Memory API, and an LLM over HTTPS signed by a CA made on
the spot) as real servers on free loopback ports, a scratch database (created on the
server of ``DATABASE_URL``, else on an embedded PostgreSQL; migrated, dropped after), and
the target's app in a child process (``harness.evidence.serve``: one uvicorn worker,
built by the checklist's ``app_factory`` from the environment of
``[targets.<t>.probe]``). Then it speaks HTTP to it and counts at the fakes:

- ``no_blocking``: every request path (both POSTs, the GET, health) and the nightly job
  under the runtime blocking-call detector (blockbuster, on the target's package);
- ``breaker_opens``: a dependency set to fail; after N failures calls stop reaching it;
- ``hang_ends_at_timeout``: a dependency set to hang; the fake sees each call cut within
  the configured timeout (+ margin), the request answers with the fallback, and every HTTP
  client the app holds has a read timeout;
- ``pool_fits``: the pools the engines really received, x workers, fit the server's
  ``max_connections``;
- ``rate_limited``: requests 1..N of a route pass the limiter, N+1 is 429, N the checklist's;
- ``peer_keyed``: the same from one peer forging a new X-Forwarded-For each time;
- ``tls_refused``: the LLM over HTTPS with an untrusted CA is refused (fallback, the fake
  counts no call) and accepted once the CA bundle setting names the CA;
- ``hostile_input_4xx``: NUL and lone surrogates in ids and text are 4xx, never a 5xx,
  and refused before any dependency call;
- ``idempotent_per_owner``: two owners of one conversation id each get their own result;
- ``spans_around_calls``: every call that reached a fake ran in a span of its dependency
  (the child records each OpenTelemetry span that ends).

The whole probe runs once per gate run (``context.cache``) and only for the checks the
judged items name. Each check is an :class:`Outcome`; the gate table shows it.

Modules: ``run`` (which checks, servers up, each check, servers down), ``servers`` (the
fakes, the CA, the apps), ``session`` (the running servers and the fakes' control API),
``requests`` (the bodies the probe sends), and the checks by group: ``dependency_checks``,
``app_checks``, ``rate_checks``.
"""

from harness.evidence.behaviour.run import CHECKS, needed_checks, probe_check, probe_results

__all__ = ["CHECKS", "needed_checks", "probe_check", "probe_results"]

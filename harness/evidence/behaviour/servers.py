"""The servers the probe starts: the fakes (LLM, Memory API, and an LLM over HTTPS signed by
a CA made on the spot) and the target's app in child processes (``harness.evidence.serve``),
each on a free loopback port in the caller's process group."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable
from ipaddress import ip_address
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from harness.evidence.behaviour.session import App, Session
from testbed.fakes import fake_argv
from testbed.net import free_port
from testbed.processes import ManagedProcess, ProcessGroup

HARNESS_ROOT = Path(__file__).resolve().parents[3]  # the repo root (harness/, testbed/, doubles/)
START_TIMEOUT_S = 60.0


def make_certificates(where: Path) -> Path:
    """A CA made now (trusted by nothing) and a leaf for 127.0.0.1 it signs; returns the CA."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gate probe CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ip_address("127.0.0.1"))]), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (where / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (where / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    (where / "leaf.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return where / "ca.pem"


def start_fakes(
    group: ProcessGroup, session: Session, where: Path, *, tls: bool
) -> list[Callable[[], None]]:
    """Start the fakes (not waiting); returns one wait per fake."""
    waits = []
    kinds = [("llm", "llm"), ("memory", "memory")] + ([("llm_tls", "llm")] if tls else [])
    for name, kind in kinds:
        port = free_port()
        if name == "llm_tls":
            argv = [
                sys.executable,
                "-m",
                "harness.evidence.serve",
                "--factory",
                "doubles.fakes.llm:create_app",
                "--port",
                str(port),
                "--certfile",
                str(where / "leaf.pem"),
                "--keyfile",
                str(where / "leaf.key"),
            ]
            base = f"https://127.0.0.1:{port}"
        else:
            argv, base = fake_argv(kind, port), f"http://127.0.0.1:{port}"  # type: ignore[arg-type]
        process = group.start(
            f"probe-fake-{name}", argv, cwd=HARNESS_ROOT, env={"PYTHONPATH": str(HARNESS_ROOT)}
        )
        session.fakes[name] = base
        waits.append(_waiter(process, port))
    return waits


def _waiter(process: ManagedProcess, port: int) -> Callable[[], None]:
    return lambda: process.wait_port(port, timeout=START_TIMEOUT_S)


def app_env(session: Session, database: str, name: str) -> dict[str, str]:
    """The app's environment: the gate's, then ``[targets.<t>.probe].env`` filled with the
    fakes' and the scratch database's URLs; ``trusted`` also names the CA."""
    context = session.context
    probe = context.spec.probe
    assert probe is not None
    llm = session.fakes["llm_tls"] if name != "main" else session.fakes["llm"]
    values = {"llm": llm, "memory": session.fakes["memory"], "database_url": database}
    env = {k: v for k, v in context.env.items() if k not in probe.env}
    env.update({k: v.format(**values) for k, v in probe.env.items()})
    env["TIME_SCALE"] = f"{probe.time_scale:g}"
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(context.repo_root), str(HARNESS_ROOT)]))
    if name == "trusted" and probe.ca_bundle_env:
        env[probe.ca_bundle_env] = str(session.ca_file)
    return env


def start_apps(
    group: ProcessGroup, session: Session, where: Path, database: str, names: list[str]
) -> None:
    """Start one app per name, then wait for each to write its facts (a failed one is kept
    in ``session.app_errors`` with its log: the checks needing it fail saying why)."""
    context = session.context
    started = []
    for name in names:
        port, out = free_port(), where / f"app-{name}"
        out.mkdir()
        argv = [
            sys.executable,
            "-m",
            "harness.evidence.serve",
            "--factory",
            context.spec.app_factory,
            "--package",
            context.spec.package.replace("/", "."),
            "--port",
            str(port),
            "--out",
            str(out),
        ]
        process = group.start(
            f"probe-app-{name}", argv, cwd=context.repo_root, env=app_env(session, database, name)
        )
        started.append((name, port, out, process))
    deadline = time.monotonic() + START_TIMEOUT_S
    for name, port, out, process in started:
        facts = out / "facts.json"
        while not facts.exists() and process.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        if not facts.exists():
            session.app_errors[name] = f"exited or timed out; its log: {process.log_tail(15)}"
            continue
        session.apps[name] = App(
            name,
            f"http://127.0.0.1:{port}",
            process.pid,
            out,
            json.loads(facts.read_text()),
        )

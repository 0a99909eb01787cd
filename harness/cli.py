"""``python -m harness``: the one CLI behind the Make targets (up, down, chaos, load, gate, ...).

Commands live in ``harness/commands/<area>.py`` (one owner each); every module
there that defines ``register(app)`` is added, so a new area needs no edit here.
"""

from __future__ import annotations

import importlib
import pkgutil

import typer

import harness.commands

app = typer.Typer(
    name="harness",
    help="Legacy vs refactored context service: stack, chaos, load, compare and deploy gate.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)


def _register_commands() -> None:
    names = sorted(m.name for m in pkgutil.iter_modules(harness.commands.__path__))
    for name in names:
        module = importlib.import_module(f"harness.commands.{name}")
        register = getattr(module, "register", None)
        if callable(register):
            register(app)


_register_commands()


def main() -> None:
    app()

"""CLI command modules. Each module defines ``register(app: typer.Typer)``; the CLI finds them all."""

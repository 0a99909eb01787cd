"""CLI command modules: each defines ``register(app: typer.Typer)``; the CLI finds them all."""

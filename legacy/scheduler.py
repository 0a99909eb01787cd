"""APScheduler inside the web process (legacy bug: every gunicorn worker runs its own)."""

from __future__ import annotations

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy import Engine

from legacy.config import Settings
from legacy.services.nightly_job import run_nightly_job


def start_scheduler(engine: Engine, settings: Settings) -> BackgroundScheduler:
    scheduler = BackgroundScheduler(timezone="UTC")
    scheduler.add_job(
        run_nightly_job,
        CronTrigger(hour=3, minute=0, timezone="UTC"),
        args=[engine, settings],
        id="nightly",
    )
    scheduler.start()
    return scheduler

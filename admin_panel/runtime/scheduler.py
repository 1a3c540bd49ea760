"""The in-app scheduler: a Reflex lifespan task that runs the due automatic jobs every
STEWARD_JOBS_INTERVAL_SECONDS (default 300; 0 turns it off). Several workers or instances may each run it:
every job claims its period with a conditional UPDATE, so the work is done once.

Registered in admin_panel.py with `app.register_lifespan_task(run_jobs_forever)`, next to
`start_background_workers` (the webhook sender and reservation expiry thread of each process)."""

import asyncio
import logging

from services.core import mailer, settings, webhooks
from services.core.db import session_scope
from services.gateway import expiry
from services.ops.jobs import JobReport, run_due_jobs

log = logging.getLogger("steward.jobs")


def run_once(now=None) -> JobReport:
    with session_scope() as db:
        return run_due_jobs(db, now=now)


async def run_jobs_forever() -> None:
    interval = settings.JOBS_INTERVAL_SECONDS
    if interval <= 0:
        return
    while True:
        try:
            report = await asyncio.to_thread(run_once)
            log.info("jobs: %s", report)
        except asyncio.CancelledError:
            raise
        except Exception:  # a failing job must not stop the scheduler; the next tick retries
            log.exception("automatic jobs failed")
        await asyncio.sleep(interval)


def start_background_workers() -> None:
    """At start-up of every worker process: the daemon threads that send due mail (services/core/mailer.py) and
    webhooks (services/core/webhooks.py) and expire reservations (services/gateway/expiry.py), whether or not the
    gateway API is ever called."""
    mailer.start_worker()
    webhooks.start_worker()
    expiry.start_worker()

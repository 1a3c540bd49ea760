"""Running a large CSV export from a Reflex background event: the job writes in a worker thread, the event
polls its progress into the state, a normal handler can cancel it, and the file goes to the browser of the
user who started it over plain HTTP (a single-use link made for that user; see services/analytics/export_jobs.py),
so a file of millions of rows never passes through the websocket."""

import asyncio
from collections.abc import Callable

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import LOGIN_ROUTE, current_session
from services.analytics import export_jobs, log_exports
from services.core.db import read_scope
from services.core.errors import DomainError

POLL_SECONDS = 0.3


async def run_export(state, *, owner_id: int, plan, actor, tab: str, flt):
    """Drive one export job; `state` has export_* vars and `_export_job`. Returns the download event or None."""
    job_id = export_jobs.new_job_id()
    async with state:
        state._export_job = job_id
        state.export_progress = 0
        state.export_message = f"Exporting {plan.total:,} rows…"
    task = asyncio.create_task(asyncio.to_thread(
        export_jobs.run_job, owner_id=owner_id, filename=plan.filename, header=plan.header, total=plan.total,
        chunks=log_exports.log_chunks(read_scope, actor=actor, tab=tab, flt=flt), job_id=job_id))
    while not task.done():
        await asyncio.sleep(POLL_SECONDS)
        try:
            job = export_jobs.get_job(job_id, owner_id=owner_id)
        except DomainError:
            continue
        async with state:
            state.export_progress = job.progress
            state.export_message = f"Exporting… {job.rows:,} of {job.total:,} rows"
    job = task.result()
    async with state:
        state.export_running = False
        state.export_progress = job.progress
        state.export_message = job.message
        state.export_ready = job.status == "done"
    if job.status != "done":
        return None
    return download_event(job_id, owner_id)


def download_event(job_id: str, owner_id: int):
    """The browser follows a fresh single-use link to the finished file (a new one each time: "Download again")."""
    name, url = export_jobs.download_link(job_id, owner_id=owner_id)
    return rx.download(url=url, filename=name)


class LogExport(rx.State, mixin=True):
    """A page that exports a log in the background: its progress vars, Cancel and Download again. The page's own
    background event calls `_start_export` with a function that reads its inputs under the state lock."""

    export_running: bool = False
    export_progress: int = 0
    export_message: str = ""
    export_ready: bool = False
    _export_job: str = ""

    async def _start_export(self, inputs: Callable[[], tuple[str, Callable]]):
        """`inputs()` → (tab, make_filter(db, actor)); runs the export as the signed-in user."""
        async with self:
            if self.export_running:
                return None
            info = await current_session(self)
            if info is None:
                return rx.redirect(LOGIN_ROUTE)
            self.export_running, self.export_ready, self.error = True, False, ""
            tab, make_filter = inputs()
        actor = info.actor()

        def plan(db):
            flt = make_filter(db, actor)
            return flt, log_exports.plan_log_export(db, actor=actor, tab=tab, flt=flt)

        try:
            flt, p = await in_db(plan, read=True)
            return await run_export(self, owner_id=info.user_id, plan=p, actor=actor, tab=tab, flt=flt)
        except DomainError as e:
            async with self:
                self.export_running, self.error, self.export_message = False, e.message, ""
            return None

    @rx.event
    async def cancel_export(self):
        info = await current_session(self)
        if info is None or not self._export_job:
            return None
        try:
            export_jobs.cancel(self._export_job, owner_id=info.user_id)
        except DomainError as e:
            self.error = e.message
        return None

    @rx.event
    async def download_export(self):
        info = await current_session(self)
        if info is None or not self._export_job:
            return None
        try:
            return download_event(self._export_job, info.user_id)
        except DomainError as e:
            self.error = e.message
            return None

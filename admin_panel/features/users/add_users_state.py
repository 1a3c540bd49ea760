"""User Management → Add user (a form) and Import CSV (upload, then a background import with progress).

`AFTER_CHANGE` holds the events to fire after users were added (the users page puts its table reload there).
"""

import asyncio
from typing import ClassVar

import reflex as rx

from admin_panel.runtime.db import in_db
from admin_panel.runtime.guard import AdminArea
from admin_panel.shell.handler import signed_in_actor
from services.core.errors import DomainError, Forbidden
from services.core.permissions import MANAGE
from services.users import invitations, user_import

AFTER_CHANGE: list = []
RESULTS_PAGE_SIZE = 50
FILTERS = ("all", "created", "exists", "invalid")
FORM_FIELDS = ("email", "name", "role", "max_tokens", "max_train_tokens")
MAX_FIELD = 400


def _text(form_data, name: str) -> str:
    value = form_data.get(name, "") if isinstance(form_data, dict) else ""
    return value if isinstance(value, str) and len(value) <= MAX_FIELD else ""


def _after_change() -> list:
    return list(AFTER_CHANGE)


class AddUsersState(AdminArea, rx.State):
    """Display data of the two dialogs. The parsed rows and all results stay on the server (`_rows`,
    `_results`); the browser gets only the current page of results."""

    required_roles: ClassVar[tuple[str, ...]] = MANAGE

    # add-user form
    add_open: bool = False
    roles: list[str] = []
    field_errors: dict[str, str] = {}
    form_error: str = ""
    added_email: str = ""
    added_link: str = ""
    added_warnings: list[str] = []
    added_mailed: bool = False

    # CSV import
    import_open: bool = False
    import_error: str = ""
    file_name: str = ""
    importing: bool = False
    processed: int = 0
    total: int = 0
    created: int = 0
    exists: int = 0
    invalid: int = 0
    mailed: int = 0
    results_filter: str = "all"
    results_page: int = 0
    result_rows: list[dict[str, str]] = []
    result_pages: int = 0
    _rows: list = []
    _results: list = []

    @rx.var
    def progress(self) -> int:
        return round(100 * self.processed / self.total) if self.total else 0

    # ------------------------------------------------------------------------------------------ add form
    @rx.event
    async def open_add(self):
        await self._open_add()

    async def _open_add(self):
        actor = await signed_in_actor(self)
        if actor is None:
            return
        self.roles = user_import.form_roles(actor)
        self.field_errors, self.form_error = {}, ""
        self.added_email, self.added_link, self.added_warnings, self.added_mailed = "", "", [], False
        self.add_open = True


    @rx.event
    async def add_open_change(self, is_open):
        if is_open is True:
            await self._open_add()
        else:
            self.add_open, self.added_link = False, ""

    @rx.event
    async def add_user(self, form_data: dict):
        actor = await signed_in_actor(self)
        if actor is None:
            return None
        values = {f: _text(form_data, f) for f in FORM_FIELDS}
        self.field_errors, self.form_error = {}, ""
        try:
            result = await in_db(lambda db: user_import.add_user(
                db, actor=actor, email=values["email"], name=values["name"], role=values["role"] or "member",
                max_tokens=values["max_tokens"].strip() or None,
                max_train_tokens=values["max_train_tokens"].strip() or None))
        except Forbidden as e:
            self.field_errors = {"role": e.message}
            return None
        except DomainError as e:
            if e.field in FORM_FIELDS or e.field == "max_training_tokens":
                self.field_errors = {"max_train_tokens" if e.field == "max_training_tokens" else e.field: e.message}
            else:
                self.form_error = e.message
            return None
        added = result.value
        self.added_email, self.added_link, self.added_warnings = added.email, added.link, list(result.warnings)
        self.added_mailed = bool(await asyncio.to_thread(
            invitations.deliver, [invitations.Invite(added.email, added.name, added.link)]))
        return _after_change()

    @rx.event
    def add_another(self):
        self.added_email, self.added_link, self.added_warnings, self.added_mailed = "", "", [], False
        self.field_errors, self.form_error = {}, ""

    # ---------------------------------------------------------------------------------------- CSV import

    @rx.event
    def close_import(self):
        self.import_open = False

    @rx.event
    def import_open_change(self, is_open):
        if is_open is True and not self.importing:
            self.import_error, self.file_name = "", ""
        self.import_open = is_open is True

    @rx.event
    def file_rejected(self, rejections: list):
        self.import_error = (f"The file was refused: it must be one .csv file of at most "
                             f"{user_import.MAX_IMPORT_BYTES // (1024 * 1024)} MB.")

    @rx.event
    async def handle_upload(self, files: list[rx.UploadFile]):
        """Read and check the uploaded file, then start the background import."""
        if await signed_in_actor(self) is None:
            return None
        if self.importing:
            self.import_error = "An import is already running."
            return None
        if not isinstance(files, list) or len(files) != 1:
            self.import_error = "Upload exactly one CSV file."
            return None
        upload = files[0]
        data = await upload.read(user_import.MAX_IMPORT_BYTES + 1)
        try:
            rows = await asyncio.to_thread(user_import.parse_csv, data)
        except DomainError as e:
            self.import_error = e.message
            return None
        self.import_error = ""
        self.file_name = (upload.name or "upload.csv")[:200]
        self._rows = rows
        self.total, self.processed = len(rows), 0
        self.created = self.exists = self.invalid = self.mailed = 0
        self._results, self.result_rows, self.result_pages, self.results_page = [], [], 0, 0
        return AddUsersState.run_import

    @rx.event(background=True)
    async def run_import(self):
        """Import the parsed rows in batches, each committed on its own, updating the progress bar."""
        async with self:
            if self.importing or not self._rows:
                return None
            rows, self._rows = self._rows, []
            self.importing = True
        batch_size = user_import.BATCH_ROWS
        error = ""
        for start in range(0, len(rows), batch_size):
            chunk = rows[start:start + batch_size]
            async with self:
                actor = await signed_in_actor(self)
            if actor is None:
                error = "Your session ended; the import stopped."
                break
            try:
                batch = await in_db(lambda db, chunk=chunk, actor=actor: user_import.import_rows(
                    db, actor=actor, rows=chunk))
            except DomainError as e:
                error = e.message
                break
            mailed = await asyncio.to_thread(invitations.deliver, batch.invites)
            async with self:
                self._results = self._results + [
                    {"row": str(r.row), "email": r.email, "status": r.status, "reason": r.reason, "link": r.link}
                    for r in batch.results]
                self.processed += len(chunk)
                self.created += sum(r.status == user_import.CREATED for r in batch.results)
                self.exists += sum(r.status == user_import.EXISTS for r in batch.results)
                self.invalid += sum(r.status == user_import.INVALID for r in batch.results)
                self.mailed += mailed
                self._show_results()
        async with self:
            self.importing = False
            if error:
                self.import_error = error
            self._show_results()
            created = self.created
        return _after_change() if created else None

    def _show_results(self):
        shown = [r for r in self._results if self.results_filter == "all" or r["status"] == self.results_filter]
        self.result_pages = max(1, -(-len(shown) // RESULTS_PAGE_SIZE))
        self.results_page = min(max(0, self.results_page), self.result_pages - 1)
        start = self.results_page * RESULTS_PAGE_SIZE
        self.result_rows = shown[start:start + RESULTS_PAGE_SIZE]

    @rx.event
    def set_results_filter(self, value):
        self.results_filter = value if value in FILTERS else "all"
        self.results_page = 0
        self._show_results()

    @rx.event
    def results_page_by(self, step):
        if isinstance(step, int) and not isinstance(step, bool) and step in (-1, 1):
            self.results_page += step
        self._show_results()

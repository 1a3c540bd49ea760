"""User Management: the "Add user" and "Import CSV" buttons with their dialogs (state: AddUsersState)."""

import reflex as rx

from admin_panel.features.users.add_users_state import AddUsersState as S
from admin_panel.ui import styles
from admin_panel.ui.widgets import dialog_buttons, table_header
from services.users.user_import import COLUMNS, MAX_IMPORT_BYTES

UPLOAD_ID = "users_csv_upload"
STATUS_COLORS = {"created": "green", "exists": "gray", "invalid": "red"}


def _field(label: str, name: str, control: rx.Component) -> rx.Component:
    return rx.vstack(
        rx.el.label(rx.text(label, size="2", weight="medium"), html_for=f"add-{name}"),
        control,
        rx.cond(S.field_errors.contains(name),
                rx.text(S.field_errors[name], size="1", color=rx.color("red", 11), id=f"add-{name}-error")),
        spacing="1", width="100%",
    )


def _input(name: str, **props) -> rx.Component:
    return rx.input(id=f"add-{name}", name=name, width="100%", **props)


def _copy_link(link) -> rx.Component:
    return rx.hstack(
        rx.code(link, size="1", style={"word_break": "break-all"}),
        rx.icon_button(rx.icon("copy", size=14), size="1", variant="soft", type="button",
                       on_click=[rx.set_clipboard(link), rx.toast.info("Invitation link copied.")],
                       aria_label="Copy invitation link"),
        align="center", width="100%",
    )


def _add_form() -> rx.Component:
    return rx.form(
        rx.vstack(
            rx.cond(S.form_error != "", rx.callout(S.form_error, icon="triangle-alert", color_scheme="red",
                                                    size="1", width="100%")),
            _field("Email", "email", _input("email", type="email", required=True, placeholder="name@company.com")),
            _field("Name", "name", _input("name", placeholder="First Last")),
            _field("Role", "role", rx.select(S.roles, name="role", default_value="member", id="add-role",
                                             width="100%")),
            rx.hstack(
                _field("Max tokens", "max_tokens", _input("max_tokens", input_mode="numeric",
                                                          placeholder="default")),
                _field("Max training tokens", "max_train_tokens", _input("max_train_tokens", input_mode="numeric",
                                                                         placeholder="default")),
                width="100%",
            ),
            rx.text("Empty caps use the organization's default allocation. The user gets an invitation link "
                    "(valid 7 days) to choose a password.", size="1", color=styles.muted_text_color),
            dialog_buttons("Add user", "add-user-submit"),
            spacing="3", width="100%",
        ),
        on_submit=S.add_user,
        reset_on_submit=False,
        width="100%",
    )


def _added() -> rx.Component:
    return rx.vstack(
        rx.callout(rx.text("Added ", rx.text.strong(S.added_email), "."), icon="circle-check", color_scheme="green",
                   width="100%", id="user-added"),
        rx.foreach(S.added_warnings, lambda w: rx.text(w, size="1", color=rx.color("amber", 11))),
        rx.text(rx.cond(S.added_mailed, "The invitation was e-mailed. You can also copy the link:",
                        "E-mail is not configured or failed: copy the invitation link and send it yourself:"),
                size="2"),
        _copy_link(S.added_link),
        rx.hstack(
            rx.button("Add another", variant="soft", on_click=S.add_another),
            rx.dialog.close(rx.button("Done")),
            justify="end", width="100%",
        ),
        spacing="3", width="100%",
    )


def add_users_button() -> rx.Component:
    """"Add user" button and its dialog."""
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("user-plus", size=16), "Add user", id="add-user-button")),
        rx.dialog.content(
            rx.dialog.title("Add a user"),
            rx.cond(S.added_link != "", _added(), _add_form()),
            max_width="520px",
        ),
        open=S.add_open,
        on_open_change=S.add_open_change,
    )


# ---------------------------------------------------------------------------------------------- import
def _upload_zone() -> rx.Component:
    return rx.upload(
        rx.vstack(
            rx.icon("file-up", size=28, color=styles.muted_text_color),
            rx.text("Drop a .csv file here or click to choose", size="2"),
            rx.text(f"Columns: {','.join(COLUMNS)} · UTF-8 · at most {MAX_IMPORT_BYTES // (1024 * 1024)} MB",
                    size="1", color=styles.muted_text_color),
            align="center", spacing="2",
        ),
        id=UPLOAD_ID,
        accept={"text/csv": [".csv"], "application/vnd.ms-excel": [".csv"]},
        max_files=1,
        max_size=MAX_IMPORT_BYTES,
        multiple=False,
        no_keyboard=False,
        on_drop=S.handle_upload(rx.upload_files(upload_id=UPLOAD_ID)),
        on_drop_rejected=S.file_rejected,
        border=f"1px dashed {rx.color('gray', 8)}",
        border_radius="8px",
        padding="1.5rem",
        width="100%",
        cursor="pointer",
    )


def _counts() -> rx.Component:
    badge = lambda label, value, color: rx.badge(label, " ", value, color_scheme=color, size="2")  # noqa: E731
    return rx.hstack(badge("Created", S.created, "green"), badge("Exists", S.exists, "gray"),
                     badge("Invalid", S.invalid, "red"), badge("E-mailed", S.mailed, "blue"), wrap="wrap")


def _result_row(r: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(r["row"]),
        rx.table.cell(r["email"]),
        rx.table.cell(rx.badge(r["status"], color_scheme=rx.match(r["status"], ("created", "green"),
                                                                  ("exists", "gray"), "red"))),
        rx.table.cell(rx.text(r["reason"], size="1")),
        rx.table.cell(rx.cond(r["link"] != "", rx.icon_button(
            rx.icon("copy", size=14), size="1", variant="soft",
            on_click=[rx.set_clipboard(r["link"]), rx.toast.info("Invitation link copied.")],
            aria_label="Copy invitation link"))),
    )


def _results() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            _counts(), rx.spacer(),
            rx.select(["all", "created", "exists", "invalid"], value=S.results_filter,
                      on_change=S.set_results_filter, size="1", id="import-filter"),
            width="100%", align="center",
        ),
        rx.scroll_area(
            rx.table.root(
                table_header("Line", "Email", "Result", "Reason", "Link"),
                rx.table.body(rx.foreach(S.result_rows, _result_row)),
                size="1", width="100%", id="import-results",
            ),
            max_height="320px", type="auto",
        ),
        rx.hstack(
            rx.button(rx.icon("chevron-left", size=14), size="1", variant="soft", on_click=S.results_page_by(-1),
                      disabled=S.results_page == 0, aria_label="Previous page"),
            rx.text(S.results_page + 1, " / ", S.result_pages, size="1"),
            rx.button(rx.icon("chevron-right", size=14), size="1", variant="soft", on_click=S.results_page_by(1),
                      disabled=S.results_page + 1 >= S.result_pages, aria_label="Next page"),
            justify="end", width="100%", align="center",
        ),
        spacing="3", width="100%",
    )


def import_users_button() -> rx.Component:
    """"Import CSV" button and its dialog: upload, progress bar, per-row results."""
    return rx.dialog.root(
        rx.dialog.trigger(rx.button(rx.icon("upload", size=16), "Import CSV", variant="soft",
                                    id="import-users-button")),
        rx.dialog.content(
            rx.dialog.title("Import users from CSV"),
            rx.dialog.description(
                "Each row becomes a user with an invitation link. Rows whose e-mail already exists are left "
                "alone, so importing the same file again changes nothing.", size="2"),
            rx.vstack(
                rx.cond(S.import_error != "", rx.callout(S.import_error, icon="triangle-alert", color_scheme="red",
                                                          size="1", width="100%", id="import-error")),
                rx.cond(S.importing,
                        rx.vstack(rx.text("Importing ", S.file_name, ": ", S.processed, " of ", S.total, " rows",
                                          size="2"),
                                  rx.progress(value=S.progress, max=100, width="100%", id="import-progress"),
                                  width="100%"),
                        _upload_zone()),
                rx.cond(S.total > 0, _results()),
                rx.hstack(rx.dialog.close(rx.button("Close", variant="soft", color_scheme="gray")),
                          justify="end", width="100%"),
                spacing="4", width="100%", padding_top="1rem",
            ),
            max_width="860px",
        ),
        open=S.import_open,
        on_open_change=S.import_open_change,
    )

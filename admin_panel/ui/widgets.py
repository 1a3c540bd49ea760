"""Widgets the pages share: table headers, pagers, confirmation dialogs, dialog buttons, header bars."""

import reflex as rx

from admin_panel.ui import styles


def table_header(*columns) -> rx.Component:
    """A table header row with one plain column header a label."""
    return rx.table.header(rx.table.row(*[rx.table.column_header_cell(c) for c in columns]))


def pager(page, pages, goto, *extra: rx.Component, **props) -> rx.Component:
    """Previous · "Page n of m" · Next (small buttons; `goto(n)` is the handler), then `extra`."""
    return rx.hstack(
        rx.button("Previous", size="1", variant="soft", disabled=page <= 1, on_click=goto(page - 1)),
        rx.text("Page " + page.to_string() + " of " + pages.to_string(), size="2"),
        rx.button("Next", size="1", variant="soft", disabled=page >= pages, on_click=goto(page + 1)),
        *extra,
        **props,
    )


def confirm_dialog(title, description, *, on_cancel, confirm: rx.Component, open) -> rx.Component:
    """An alert dialog: title, description, Cancel (`on_cancel`) and the `confirm` button."""
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(description),
            rx.hstack(
                rx.alert_dialog.cancel(rx.button("Cancel", variant="soft", color_scheme="gray", on_click=on_cancel)),
                rx.alert_dialog.action(confirm),
                justify="end", spacing="3", margin_top="1rem",
            ),
        ),
        open=open,
    )


def dialog_buttons(label: str, submit_id: str) -> rx.Component:
    """Cancel (closes the dialog) and the form's submit button, right-aligned."""
    return rx.hstack(rx.dialog.close(rx.button("Cancel", variant="soft", color_scheme="gray", type="button")),
                     rx.button(label, type="submit", id=submit_id), justify="end", width="100%")


def form_dialog(title, *fields: rx.Component, submit: str, submit_id: str, on_submit, open, on_open_change,
                head: tuple[rx.Component, ...] = (), trigger: rx.Component | None = None) -> rx.Component:
    """A dialog around a form: the title, `head` (e.g. a description), the fields, then Cancel and submit.
    `trigger` (a button) opens it."""
    return rx.dialog.root(
        *([rx.dialog.trigger(trigger)] if trigger is not None else []),
        rx.dialog.content(
            rx.dialog.title(title),
            *head,
            rx.form(
                rx.vstack(*fields, dialog_buttons(submit, submit_id), spacing="3"),
                on_submit=on_submit,
                reset_on_submit=False,
            ),
        ),
        open=open,
        on_open_change=on_open_change,
    )


def content_column(*children: rx.Component, max_width: str, padding) -> rx.Component:
    """The page content under the header bar, centred up to `max_width`."""
    return rx.box(*children, width="100%", max_width=max_width, margin_x="auto", padding=padding)


def header_bar(*children: rx.Component, padding_x, **props) -> rx.Component:
    """The bar at the top of a signed-in page: one row on the panel colour above a border."""
    return rx.hstack(
        *children,
        align="center",
        spacing="3",
        width="100%",
        padding_x=padding_x,
        padding_y="0.75rem",
        border_bottom=styles.border,
        background_color="var(--color-panel-solid)",
        **props,
    )

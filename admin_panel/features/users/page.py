"""Management → User Management: summary bar, the server-side user table, status actions, inline cap edits."""

import reflex as rx

from admin_panel.features.users.actions import action_dialog, row_menu
from admin_panel.features.users.add_users import add_users_button, import_users_button
from admin_panel.features.users.export_users import export_users_menu
from admin_panel.features.users.state import UsersState
from admin_panel.shell import admin_page
from admin_panel.ui import styles

COLUMNS = (  # (sort key, header)
    ("id", "ID"), ("name", "Name"), ("email", "Email"), ("role", "Role"), ("mfa", "MFA"), ("paid", "Paid"),
    ("banned", "Banned"), ("verified", "Verified"), ("max_tokens", "Max tokens"),
    ("max_training_tokens", "Max training"), ("used_month", "Used this month"), ("used_prev", "Previous month"),
    ("used_total", "Total used"), ("last_login", "Last login"), ("pinned", "Pinned"),
)
YES_NO = (("any", "Any"), ("yes", "Yes"), ("no", "No"))
ROLES = (("any", "Any role"), ("member", "Member"), ("finance", "Finance"), ("admin", "Admin"),
         ("super_admin", "Super admin"))


def _stat(label: str, value, note=None) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", color=styles.muted_text_color),
                     rx.text(value, size="3", weight="bold"), note or rx.fragment(), spacing="0", min_width="7.5rem")


def summary_bar() -> rx.Component:
    def kind_card(c: dict) -> rx.Component:
        return rx.box(
            rx.text(c["kind"], size="2", weight="bold", margin_bottom="0.5rem"),
            rx.flex(_stat("Purchased", c["purchased"]), _stat("Assigned", c["assigned"]),
                    _stat("Used this month", c["used"]), _stat("Unassigned", c["unassigned"]),
                    wrap="wrap", gap="1rem"),
            rx.cond(c["over"] != "", rx.text("Overbooked by ", c["over"], size="1", color=rx.color("orange", 11),
                                             margin_top="0.5rem")),
            padding="1rem", border=styles.border, border_radius=styles.border_radius,
            background_color="var(--color-panel-solid)", flex="1 1 320px",
        )

    return rx.vstack(
        rx.flex(
            rx.box(_stat("Users", UsersState.user_count,
                         rx.cond(UsersState.closest_expiry != "",
                                 rx.text("Closest expiry ", UsersState.closest_expiry, size="1",
                                         color=styles.muted_text_color))),
                   padding="1rem", border=styles.border, border_radius=styles.border_radius,
                   background_color="var(--color-panel-solid)", flex="0 1 200px"),
            rx.foreach(UsersState.cards, kind_card),
            wrap="wrap", gap="1rem", width="100%", id="summary-bar",
        ),
        rx.foreach(UsersState.overbooking, lambda w: rx.callout(w, icon="triangle-alert", color_scheme="orange",
                                                                 size="1", width="100%")),
        spacing="2", width="100%",
    )


def _select(value, options, on_change, label: str, id_: str, width="8.5rem") -> rx.Component:
    return rx.select.root(
        rx.select.trigger(aria_label=label, width=width, id=id_),
        rx.select.content(*[rx.select.item(text, value=v) for v, text in options]),
        value=value, on_change=on_change, size="2",
    )


def toolbar() -> rx.Component:
    return rx.flex(
        rx.input(rx.input.slot(rx.icon("search", size=14)), placeholder="Search name or email (all words)",
                 default_value=UsersState.search, on_change=UsersState.set_search.debounce(350),
                 width=rx.breakpoints(initial="100%", sm="280px"), id="user-search", max_length=200),
        rx.hstack(rx.text("Paid", size="1"), _select(UsersState.paid, YES_NO,
                                                     lambda v: UsersState.set_filter("paid", v), "Paid filter",
                                                     "filter-paid", "6rem"), align="center", spacing="1"),
        rx.hstack(rx.text("Banned", size="1"), _select(UsersState.banned, YES_NO,
                                                       lambda v: UsersState.set_filter("banned", v),
                                                       "Banned filter", "filter-banned", "6rem"),
                  align="center", spacing="1"),
        rx.hstack(rx.text("MFA", size="1"), _select(UsersState.mfa, YES_NO,
                                                    lambda v: UsersState.set_filter("mfa", v), "MFA filter",
                                                    "filter-mfa", "6rem"), align="center", spacing="1"),
        _select(UsersState.role, ROLES, lambda v: UsersState.set_filter("role", v), "Role filter", "filter-role"),
        rx.spacer(),
        rx.hstack(add_users_button(), import_users_button(), export_users_menu(), spacing="2", wrap="wrap"),
        wrap="wrap", gap="0.75rem", align="center", width="100%",
    )


def _header_cell(key: str, label: str) -> rx.Component:
    arrow = rx.cond(UsersState.sort == key,
                    rx.icon(rx.cond(UsersState.descending, "arrow-down", "arrow-up"), size=12), rx.fragment())
    return rx.table.column_header_cell(
        rx.hstack(rx.text(label, white_space="nowrap"), arrow, spacing="1", align="center", cursor="pointer",
                  on_click=UsersState.sort_by(key), id=f"sort-{key}"),
    )


def _yes(value, on_color="green") -> rx.Component:
    return rx.cond(value == "yes", rx.badge("Yes", color_scheme=on_color, variant="soft"),
                   rx.text("No", size="1", color=styles.muted_text_color))


def _cap_input(row: dict, field: str, edited_key: str) -> rx.Component:
    bad = UsersState.bad_cells.contains(row["id"] + ":" + field)
    return rx.input(
        default_value=row[field],
        key=row["id"] + field + row[field],
        on_blur=lambda v: UsersState.edit_cell(row["id"], field, v),
        size="1", width="7.5rem", max_length=30, class_name="cap-input",
        aria_label=field.replace("_", " "),
        color_scheme=rx.cond(bad, "red", rx.cond(row[edited_key] == "yes", "amber", "gray")),
        variant=rx.cond(row[edited_key] == "yes", "soft", "surface"),
        style={"font_variant_numeric": "tabular-nums", "text_align": "right"},
    )


def _usage(main, training) -> rx.Component:
    return rx.vstack(rx.text(main, size="2"), rx.cond(training != "0", rx.text("T ", training, size="1",
                                                                                color=styles.muted_text_color)),
                     spacing="0", align="end")


def _row(row: dict) -> rx.Component:
    return rx.table.row(
        rx.table.cell(row_menu(row)),
        rx.table.cell(row["id"]),
        rx.table.cell(rx.text(row["name"], white_space="nowrap")),
        rx.table.cell(rx.text(row["email"], white_space="nowrap")),
        rx.table.cell(rx.badge(row["role_label"], variant="surface",
                               color_scheme=rx.match(row["role"], ("super_admin", "crimson"), ("admin", "indigo"),
                                                     ("finance", "teal"), "gray"))),
        rx.table.cell(_yes(row["mfa"])),
        rx.table.cell(_yes(row["paid"])),
        rx.table.cell(rx.cond(row["banned"] == "yes",
                              rx.tooltip(rx.badge("Banned", color_scheme="red"), content=row["ban_note"]),
                              rx.text("No", size="1", color=styles.muted_text_color))),
        rx.table.cell(_yes(row["verified"])),
        rx.table.cell(_cap_input(row, "max_tokens", "edited_tokens")),
        rx.table.cell(_cap_input(row, "max_training_tokens", "edited_training")),
        rx.table.cell(_usage(row["used_month"], row["used_month_training"])),
        rx.table.cell(_usage(row["used_prev"], row["used_prev_training"])),
        rx.table.cell(_usage(row["used_total"], row["used_total_training"])),
        rx.table.cell(rx.text(row["last_login"], white_space="nowrap", size="1")),
        rx.table.cell(rx.cond(row["pinned"] == "yes", rx.icon("pin", size=14, color=styles.accent_text_color),
                              rx.fragment())),
        class_name="user-row",
    )


def user_table() -> rx.Component:
    return rx.box(
        rx.table.root(
            rx.table.header(rx.table.row(rx.table.column_header_cell(rx.text("Actions", class_name="sr-only",
                                                                             font_size="0")),
                                         *[_header_cell(k, label) for k, label in COLUMNS])),
            rx.table.body(rx.foreach(UsersState.rows, _row)),
            size="1", variant="surface", width="100%", id="user-table",
        ),
        overflow_x="auto", width="100%",
    )


def edit_bar() -> rx.Component:
    return rx.cond(
        UsersState.edit_count > 0,
        rx.flex(
            rx.icon("pencil", size=16),
            rx.text(UsersState.edit_count, " unsaved change(s). They are kept while you page, sort and filter.",
                    size="2"),
            rx.spacer(),
            rx.button("Discard changes", variant="soft", color_scheme="gray", on_click=UsersState.discard_edits,
                      id="discard-edits"),
            rx.button(rx.icon("save", size=14), "Save changes", on_click=UsersState.save_edits, id="save-edits"),
            gap="0.75rem", align="center", wrap="wrap", width="100%", padding="0.75rem 1rem",
            border=f"1px solid {rx.color('amber', 7)}", border_radius=styles.border_radius,
            background_color=rx.color("amber", 2), id="edit-bar",
        ),
    )


def pager() -> rx.Component:
    return rx.flex(
        rx.text(UsersState.range_label, size="2", color=styles.muted_text_color, id="range-label"),
        rx.text("Usage in tokens; “T” lines are training tokens.", size="1", color=styles.muted_text_color),
        rx.spacer(),
        rx.hstack(rx.text("Rows", size="1"),
                  _select(UsersState.page_size.to_string(), (("25", "25"), ("50", "50"), ("100", "100")),
                          UsersState.set_page_size, "Page size", "page-size", "5rem"), align="center", spacing="1"),
        rx.hstack(  # the navigation wraps as one piece on narrow screens
            rx.button(rx.icon("chevron-left", size=14), "Previous", variant="soft", size="2",
                      disabled=UsersState.page <= 1, on_click=UsersState.go_to(UsersState.page - 1), id="prev-page"),
            rx.text("Page ", UsersState.page, " of ", UsersState.pages, size="2", id="page-label",
                    white_space="nowrap"),
            rx.button("Next", rx.icon("chevron-right", size=14), variant="soft", size="2",
                      disabled=UsersState.page >= UsersState.pages, on_click=UsersState.go_to(UsersState.page + 1),
                      id="next-page"),
            align="center", spacing="3",
        ),
        gap="0.75rem", align="center", wrap="wrap", width="100%",
    )


def messages() -> rx.Component:
    return rx.fragment(
        rx.cond(UsersState.error != "", rx.callout(UsersState.error, icon="triangle-alert", color_scheme="red",
                                                   width="100%", role="alert", id="users-error")),
        rx.cond(UsersState.notice != "", rx.callout(UsersState.notice, icon="check", color_scheme="green",
                                                    width="100%", id="users-notice")),
        rx.cond(UsersState.save_warnings.length() > 0,
                rx.callout(rx.vstack(rx.foreach(UsersState.save_warnings, lambda w: rx.text(w, size="2")),
                                     spacing="1"),
                           icon="info", color_scheme="orange", width="100%", id="save-warnings")),
    )


@admin_page(nav_key="users", on_load=UsersState.load)
def users_page() -> rx.Component:
    return rx.vstack(
        summary_bar(),
        toolbar(),
        messages(),
        edit_bar(),
        user_table(),
        pager(),
        action_dialog(),
        spacing="4",
        width="100%",
    )

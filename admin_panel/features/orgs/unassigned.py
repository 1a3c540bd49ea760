"""The Organizations page's "Unassigned users" tab: self-registered people no organization's domain claimed,
each with an organization picker and an Assign button."""

import reflex as rx

from admin_panel.features.orgs.unassigned_state import LIMIT, UnassignedState
from admin_panel.ui import styles
from admin_panel.ui.widgets import table_header


def _assign_form(u: dict) -> rx.Component:
    return rx.form(
        rx.hstack(
            rx.el.input(type="hidden", name="user", value=u["id"]),
            rx.el.select(
                rx.el.option("Organization…", value=""),
                rx.foreach(UnassignedState.org_options, lambda o: rx.el.option(o["name"], value=o["id"])),
                name="org", default_value="", style={**styles.native_select_style, "max_width": "11rem"},
                aria_label="Organization",
                class_name="assign-org"),
            rx.button("Assign", size="1", type="submit", class_name="assign-submit"),
            spacing="2", align="center",
        ),
        on_submit=UnassignedState.assign,
        reset_on_submit=True,
    )


def unassigned_tab() -> rx.Component:
    head = table_header("E-mail", "Name", "E-mail verified", "Registered", "Put into")
    body = rx.table.body(rx.foreach(UnassignedState.users, lambda u: rx.table.row(
        rx.table.cell(u["email"], word_break="break-all"), rx.table.cell(u["name"]), rx.table.cell(u["verified"]),
        rx.table.cell(u["registered"], white_space="nowrap"), rx.table.cell(_assign_form(u)),
        class_name="unassigned-row")))
    return rx.vstack(
        rx.text("People who registered with an e-mail domain that no organization claims. They join the chosen "
                "organization as unpaid members; its admins then activate them.", size="2",
                color=styles.muted_text_color),
        rx.cond(UnassignedState.error != "", rx.callout(UnassignedState.error, icon="triangle-alert",
                                                        color_scheme="red", width="100%", role="alert",
                                                        id="unassigned-error")),
        rx.cond(UnassignedState.notice != "", rx.callout(UnassignedState.notice, icon="circle-check",
                                                         color_scheme="green", width="100%", id="unassigned-notice")),
        rx.cond(
            UnassignedState.count > 0,
            rx.box(rx.table.root(head, body, variant="surface", width="100%"), overflow_x="auto", width="100%"),
            rx.text("Nobody is waiting for an organization.", color=styles.muted_text_color, id="unassigned-empty"),
        ),
        rx.cond(UnassignedState.count >= LIMIT,
                rx.text(f"The {LIMIT} newest are listed; assign them to see older ones.", size="1",
                        color=styles.muted_text_color)),
        spacing="3", width="100%",
    )

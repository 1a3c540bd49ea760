"""Analytics → Activity Logs: Usage, Sign-ins and Audit trail tabs, filters, keyset paging, CSV, verify chain."""

import reflex as rx

from admin_panel.features.activity.state import PAGE_SIZES, TAB_LABELS, THROTTLED_TAB, ActivityState
from admin_panel.features.activity.throttled import throttled_panel
from admin_panel.shell import admin_page
from admin_panel.ui import styles

SELECT_STYLE = styles.native_select_style
NUMERIC = rx.Var.create(["prompt_tokens", "completion_tokens", "billed_tokens"])  # right-aligned columns
WRAPPING = rx.Var.create(["user", "actor", "target", "changes", "reason", "org"])  # the others stay on one line
HEADINGS = {"org": "Organization", "time": "Time (UTC)", "user": "User", "model": "Model",
            "prompt_tokens": "Prompt", "completion_tokens": "Completion", "billed_tokens": "Billed", "kind": "Kind",
            "ip": "IP", "result": "Result", "reason": "Reason", "actor": "Actor", "action": "Action",
            "target": "Target", "changes": "Before → after"}


def _labelled(label: str, field: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", color=styles.muted_text_color), field, spacing="1")


def _align(col):
    return rx.cond(NUMERIC.contains(col), "right", "left")


def _heading(col) -> rx.Component:
    label = rx.match(col, *list(HEADINGS.items()), col)
    return rx.table.column_header_cell(label, text_align=_align(col), white_space="nowrap")


def filters() -> rx.Component:
    f = ActivityState.filters
    tab = ActivityState.tab
    return rx.form(
        rx.hstack(
            _labelled("User (email)", rx.input(name="user", default_value=f["user"], placeholder="anyone",
                                               max_length=320, id="logs-user")),
            rx.cond(tab == "usage", rx.hstack(
                _labelled("Model", rx.el.select(
                    rx.el.option("All models", value="all"),
                    rx.foreach(ActivityState.model_options, lambda m: rx.el.option(m["name"], value=m["id"])),
                    name="model", default_value=f["model"], style=SELECT_STYLE)),
                _labelled("Kind", rx.el.select(rx.el.option("All kinds", value="all"),
                                               rx.el.option("Inference", value="tokens"),
                                               rx.el.option("Training", value="training"),
                                               name="kind", default_value=f["kind"], style=SELECT_STYLE)),
                spacing="3")),
            rx.cond(tab == "signins", _labelled("Result", rx.el.select(
                rx.el.option("Any", value="all"), rx.el.option("Success", value="success"),
                rx.el.option("Failure", value="failure"), name="outcome", default_value=f["outcome"],
                style=SELECT_STYLE))),
            rx.cond(tab == "audit", rx.hstack(
                _labelled("Action", rx.el.select(
                    rx.el.option("All actions", value="all"),
                    rx.foreach(ActivityState.actions, lambda a: rx.el.option(a, value=a)),
                    name="action", default_value=f["action"], style=SELECT_STYLE)),
                _labelled("Search", rx.input(name="text", default_value=f["text"], placeholder="words in the entry",
                                             max_length=100, id="logs-text")),
                spacing="3")),
            _labelled("From (UTC)", rx.input(type="date", name="start", default_value=f["start"])),
            _labelled("To (UTC)", rx.input(type="date", name="end", default_value=f["end"])),
            _labelled("Rows", rx.el.select(*[rx.el.option(s, value=s) for s in PAGE_SIZES], name="page_size",
                                           default_value=ActivityState.page_size, style=SELECT_STYLE)),
            rx.button("Apply", type="submit", id="logs-apply"),
            rx.button("Clear", type="button", variant="soft", on_click=ActivityState.clear_filters),
            wrap="wrap", spacing="3", align="end",
        ),
        on_submit=ActivityState.apply_filters,
        key=ActivityState.tab,
        width="100%",
    )


def table() -> rx.Component:
    return rx.card(
        rx.cond(
            ActivityState.rows.length() > 0,
            rx.box(rx.table.root(
                rx.table.header(rx.table.row(rx.foreach(ActivityState.columns, _heading))),
                rx.table.body(rx.foreach(ActivityState.rows, lambda r: rx.table.row(
                    rx.foreach(ActivityState.columns, lambda c: rx.table.cell(
                        r[c], white_space=rx.cond(WRAPPING.contains(c), "pre-wrap", "nowrap"),
                        font_size="var(--font-size-1)", text_align=_align(c)))))),
                size="1", width="100%", id="logs-table"), overflow_x="auto", width="100%"),
            rx.center(rx.text("No entries match these filters.", color=styles.muted_text_color), height="120px"),
        ),
        width="100%",
    )


def pager() -> rx.Component:
    return rx.hstack(
        rx.button(rx.icon("chevrons-left", size=14), "First", variant="soft", size="1",
                  disabled=~ActivityState.has_prev, on_click=ActivityState.first_page),
        rx.button(rx.icon("chevron-left", size=14), "Previous", variant="soft", size="1",
                  disabled=~ActivityState.has_prev, on_click=ActivityState.prev_page, id="logs-prev"),
        rx.text("Page ", ActivityState.page_no, size="2", id="logs-page"),
        rx.button("Next", rx.icon("chevron-right", size=14), variant="soft", size="1",
                  disabled=~ActivityState.has_next, on_click=ActivityState.next_page, id="logs-next"),
        rx.spacer(),
        rx.button(rx.icon("file-down", size=14), "Export CSV", size="1", on_click=ActivityState.export_log,
                  loading=ActivityState.export_running, id="logs-export"),
        align="center", width="100%", spacing="2", wrap="wrap",
    )


def export_status() -> rx.Component:
    return rx.vstack(
        rx.cond(ActivityState.export_running, rx.hstack(
            rx.progress(value=ActivityState.export_progress, max=100, width="100%"),
            rx.button("Cancel", color_scheme="red", variant="soft", size="1", on_click=ActivityState.cancel_export,
                      id="logs-export-cancel"), width="100%", align="center")),
        rx.cond(ActivityState.export_message != "", rx.hstack(
            rx.text(ActivityState.export_message, size="2"),
            rx.cond(ActivityState.export_ready, rx.link("Download again", on_click=ActivityState.download_export,
                                                        size="2")), spacing="3")),
        width="100%", spacing="2",
    )


def verify_box() -> rx.Component:
    return rx.cond(ActivityState.is_super, rx.hstack(
        rx.button(rx.icon("shield-check", size=14), "Verify audit chain", variant="outline", size="1",
                  on_click=ActivityState.verify_chain, loading=ActivityState.verify_running, id="verify-chain"),
        rx.cond(ActivityState.verify_result != "", rx.badge(ActivityState.verify_result,
                                                            color_scheme=rx.cond(ActivityState.verify_ok, "green",
                                                                                 "red"),
                                                            size="2", id="verify-result")),
        align="center", spacing="3"))


@admin_page(nav_key="logs", on_load=ActivityState.load, all_orgs=True)
def activity_page() -> rx.Component:
    return rx.vstack(
        rx.hstack(
            rx.tabs.root(rx.tabs.list(*[rx.tabs.trigger(label, value=key, id=f"tab-{key}")
                                        for key, label in TAB_LABELS.items()],
                                      rx.cond(ActivityState.is_super, rx.tabs.trigger(
                                          "Throttled sign-ins", value=THROTTLED_TAB, id=f"tab-{THROTTLED_TAB}"))),
                         value=ActivityState.tab, on_change=ActivityState.set_tab),
            rx.spacer(), verify_box(), width="100%", align="center", wrap="wrap",
        ),
        rx.cond(ActivityState.error != "", rx.callout(ActivityState.error, color_scheme="red",
                                                      icon="triangle-alert", width="100%", id="logs-error")),
        rx.cond(ActivityState.tab == THROTTLED_TAB, throttled_panel(), rx.vstack(
            filters(),
            pager(),
            rx.cond(ActivityState.note != "", rx.text(ActivityState.note, size="1", color=styles.muted_text_color,
                                                      id="logs-note")),
            export_status(),
            table(),
            spacing="4", width="100%",
        )),
        spacing="4", width="100%",
    )

"""Management → Token Distribution: status cards, presets and the policy per kind, per-user limits, excluded and
pinned users, Distribute now (preview → confirm → execute) and the history of runs."""

import reflex as rx

from admin_panel.features.distribution.display import BOOL_FIELDS, CHOICE_LABELS, CHOICES, FIELD_LABELS
from admin_panel.features.distribution.state import DistributionState as S
from admin_panel.shell import admin_page
from admin_panel.ui.widgets import confirm_dialog, pager, table_header

PRESET_BUTTONS = (("conservative", "Conservative"), ("standard", "Standard"), ("aggressive", "Aggressive"),
                  ("dynamic", "Dynamic"))
TEXT_FIELDS = ("floor", "ceiling", "increase_amount", "trigger_pct", "cooldown_minutes", "near_ceiling_bump_pct",
               "reclaim_buffer_pct", "reserve_pct", "auto_approve_max", "lookback_days")


def _card(label: str, key: str) -> rx.Component:
    return rx.card(rx.vstack(rx.text(label, size="2", color=rx.color("gray", 11)),
                             rx.heading(S.cards[key], size="5", id="card-" + key), spacing="1"), width="100%")


def _section(title: str, *children, **props) -> rx.Component:
    return rx.card(rx.vstack(rx.heading(title, size="4", as_="h2"), *children, spacing="3", width="100%"),
                   width="100%", **props)


def _field(name: str) -> rx.Component:
    label = rx.text(FIELD_LABELS[name], size="2", weight="medium")
    if name in BOOL_FIELDS:
        return rx.hstack(rx.switch(name=name, default_checked=S.pol[name] == "on", key=S.pol[name] + name), label,
                         align="center", spacing="2")
    if name in CHOICES:
        options = [rx.select.item(CHOICE_LABELS[v], value=v) for v in CHOICES[name]]
        return rx.vstack(label, rx.select.root(rx.select.trigger(id="policy-" + name), rx.select.content(*options),
                                               name=name, default_value=S.pol[name], key=S.pol[name] + name),
                         spacing="1")
    return rx.vstack(label, rx.input(name=name, default_value=S.pol[name], key=S.pol[name] + name, max_length=24,
                                     id="policy-" + name), spacing="1")


def _policy() -> rx.Component:
    return _section(
        "Policy",
        rx.hstack(
            rx.tabs.root(rx.tabs.list(rx.tabs.trigger("Tokens", value="tokens"),
                                      rx.tabs.trigger("Training tokens", value="training")),
                         value=S.kind, on_change=S.set_kind),
            rx.spacer(),
            rx.badge(S.preset_label, size="2", id="preset-badge"),
            width="100%", align="center",
        ),
        rx.hstack(*[rx.button(label, size="1", variant=rx.cond(S.preset == key, "solid", "outline"),
                              on_click=S.choose_preset(key), id="preset-" + key) for key, label in PRESET_BUTTONS],
                  rx.text("Editing a field makes the policy Custom.", size="1"), wrap="wrap", spacing="2",
                  align="center"),
        rx.form(
            rx.vstack(
                rx.grid(*[_field(f) for f in TEXT_FIELDS + tuple(CHOICES)],
                        columns=rx.breakpoints(initial="1", sm="2", lg="3"), spacing="3", width="100%"),
                rx.hstack(*[_field(f) for f in BOOL_FIELDS], wrap="wrap", spacing="5"),
                rx.button("Save policy", type="submit", id="policy-save"),
                spacing="3", width="100%",
            ),
            on_submit=S.save_policy, width="100%",
        ),
    )


def _user_table(rows, action=None) -> rx.Component:
    cols = ("User", "Allocation", "Floor", "Ceiling") + (("",) if action else ())
    return rx.table.root(
        table_header(*cols),
        rx.table.body(rx.foreach(rows, lambda u: rx.table.row(
            rx.table.cell(u["email"]), rx.table.cell(u["allocation"]), rx.table.cell(u["floor"]),
            rx.table.cell(u["ceiling"]), *([rx.table.cell(action(u))] if action else [])))),
        width="100%", size="1",
    )


def _people() -> rx.Component:
    return _section(
        "Per-user limits and automation",
        rx.form(rx.hstack(
            rx.input(name="email", placeholder="user@example.com", max_length=320, id="override-email"),
            rx.input(name="floor", placeholder="Floor", max_length=24, id="override-floor"),
            rx.input(name="ceiling", placeholder="Ceiling", max_length=24, id="override-ceiling"),
            rx.button("Set limits", type="submit", id="override-save"), wrap="wrap", spacing="2"),
            on_submit=S.save_override, reset_on_submit=True),
        rx.text("Overrides (" + S.counts["overrides"].to_string() + ")", weight="medium"),
        _user_table(S.overrides, lambda u: rx.button("Clear", size="1", variant="soft",
                                                     on_click=S.clear_override(u["user_id"]))),
        rx.form(rx.hstack(
            rx.input(name="email", placeholder="user@example.com", max_length=320, id="exclude-email"),
            rx.button("Exclude from automation", type="submit", variant="soft"), spacing="2"),
            on_submit=S.exclude, reset_on_submit=True),
        rx.text("Excluded from automation (" + S.counts["excluded"].to_string() + ")", weight="medium"),
        _user_table(S.excluded, lambda u: rx.button("Include", size="1", variant="soft",
                                                    on_click=S.include(u["user_id"]))),
        rx.text("Pinned — never changed automatically (" + S.counts["pinned"].to_string() + ")", weight="medium"),
        _user_table(S.pinned),
    )


def _distribute() -> rx.Component:
    t = S.preview_totals
    return _section(
        "Distribute now",
        rx.hstack(
            rx.select.root(rx.select.trigger(), rx.select.content(
                rx.select.item("Equal split", value="equal"), rx.select.item("Usage-based", value="usage"),
                rx.select.item("Incremental", value="incremental")),
                value=S.strategy, on_change=S.set_strategy),
            rx.cond(S.strategy == "usage", rx.input(value=S.lookback, on_change=S.set_lookback.debounce(300),
                                                    placeholder="Lookback days", width="9em")),
            rx.button("Preview", on_click=S.preview, id="preview", loading=S.running),
            wrap="wrap", spacing="2", align="center",
        ),
        rx.cond(S.has_preview, rx.vstack(
            rx.text("Distributable " + t["distributable"] + " (pool " + t["purchased"] + ", reserve "
                    + t["reserve"] + ") · current " + t["current_total"] + " → proposed " + t["proposed_total"]
                    + " (" + t["change_total"] + ") · " + t["changed"] + " of " + t["participants"]
                    + " change · pinned " + t["pinned"] + " · excluded " + t["excluded"] + " · inactive "
                    + t["inactive"], size="2", id="preview-totals"),
            rx.foreach(S.preview_warnings, lambda w: rx.callout(w, icon="triangle-alert", color_scheme="amber",
                                                                 size="1", width="100%")),
            rx.table.root(
                table_header("User", "Current", "Proposed", "Change", "Warnings"),
                rx.table.body(rx.foreach(S.preview_rows, lambda r: rx.table.row(
                    rx.table.cell(r["email"]), rx.table.cell(r["current"]), rx.table.cell(r["proposed"]),
                    rx.table.cell(r["change"]), rx.table.cell(r["warnings"])))),
                width="100%", size="1", id="preview-table"),
            pager(S.preview_page, S.preview_pages, S.preview_goto,
                  rx.spacer(),
                  rx.button("Execute", color_scheme="green", on_click=S.ask_confirm, id="execute",
                            loading=S.running),
                  width="100%", align="center"),
            spacing="3", width="100%",
        )),
        confirm_dialog("Apply this distribution?",
                       "It changes " + t["changed"] + " allocations in one step. It is kept in the history.",
                       on_cancel=S.close_confirm,
                       confirm=rx.button("Distribute", color_scheme="green", on_click=S.execute,
                                         id="execute-confirm"),
                       open=S.confirm_open),
    )


def _history() -> rx.Component:
    return _section(
        "History",
        rx.table.root(
            table_header("#", "When", "Who", "Kind", "Strategy", "Before", "After", "Changed", ""),
            rx.table.body(rx.foreach(S.history, lambda r: rx.table.row(
                rx.table.cell(r["id"]), rx.table.cell(r["when"]), rx.table.cell(r["actor"]),
                rx.table.cell(r["kind"]), rx.table.cell(r["strategy"]), rx.table.cell(r["before"]),
                rx.table.cell(r["after"]), rx.table.cell(r["changed"]),
                rx.table.cell(rx.button("Details", size="1", variant="soft", on_click=S.show_run(r["id"], 1)))))),
            width="100%", size="1", id="history-table"),
        rx.hstack(
            rx.button("Newer", size="1", variant="soft", disabled=S.history_page <= 1,
                      on_click=S.history_goto(S.history_page - 1)),
            rx.button("Older", size="1", variant="soft", disabled=S.history_page * 10 >= S.history_total,
                      on_click=S.history_goto(S.history_page + 1)), spacing="2"),
        rx.cond(S.detail_rows.length() > 0, rx.vstack(
            rx.hstack(rx.text("Run #" + S.detail["id"] + " · " + S.detail["when"] + " · " + S.detail["actor"] + " · "
                              + S.detail["strategy"] + " · " + S.detail["before"] + " → " + S.detail["after"],
                              weight="medium", size="2"),
                      rx.spacer(), rx.button("Close", size="1", variant="ghost", on_click=S.close_detail),
                      width="100%"),
            rx.table.root(
                table_header("User", "Before", "After", "Change"),
                rx.table.body(rx.foreach(S.detail_rows, lambda c: rx.table.row(
                    rx.table.cell(c["email"]), rx.table.cell(c["before"]), rx.table.cell(c["after"]),
                    rx.table.cell(c["change"])))),
                width="100%", size="1", id="run-detail"),
            pager(S.detail_page, S.detail_pages, S.detail_goto, align="center"),
            width="100%")),
    )


@admin_page(nav_key="distribution", on_load=S.load)
def distribution_page() -> rx.Component:
    return rx.vstack(
        rx.cond(S.error != "", rx.callout(S.error, icon="triangle-alert", color_scheme="red", width="100%",
                                          id="dist-error")),
        rx.cond(S.notice != "", rx.callout(S.notice, icon="check", color_scheme="green", width="100%",
                                           id="dist-notice")),
        rx.foreach(S.warnings, lambda w: rx.callout(w, icon="info", color_scheme="amber", size="1", width="100%")),
        rx.grid(_card("Purchased", "purchased"), _card("Allocated", "allocated"), _card("Used this month", "used"),
                _card("Unallocated", "unallocated"), columns=rx.breakpoints(initial="2", lg="4"), spacing="3",
                width="100%"),
        rx.cond(S.overbooked != "", rx.callout(S.overbooked, icon="triangle-alert", color_scheme="amber",
                                               width="100%")),
        _policy(),
        _distribute(),
        _people(),
        _history(),
        spacing="4", width="100%",
    )

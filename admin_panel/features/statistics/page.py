"""Analytics → Token Statistics: cards, filters, five Plotly charts with CSV exports."""

import plotly.graph_objects as go
import reflex as rx

from admin_panel.features.statistics.state import TOP_CHOICES, StatsState
from admin_panel.shell import admin_page
from admin_panel.ui import styles


def _card(c) -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.text(c["label"], size="2", color=styles.muted_text_color),
            rx.text(c["value"], size="6", weight="bold"),
            rx.text(c["hint"], size="1", color=styles.muted_text_color),
            spacing="1",
        ),
        min_width="0",
    )


def _select(name: str, items: list[tuple[str, str]], default) -> rx.Component:
    return rx.el.select(*[rx.el.option(label, value=value) for value, label in items], name=name,
                        default_value=default, class_name="rt-reset", style=styles.native_select_style)


def _labelled(label: str, field: rx.Component) -> rx.Component:
    return rx.vstack(rx.text(label, size="1", color=styles.muted_text_color), field, spacing="1")


def filters() -> rx.Component:
    return rx.form(
        rx.hstack(
            _labelled("From (UTC)", rx.input(type="date", name="start", default_value=StatsState.start,
                                             key=StatsState.start, id="stats-start")),
            _labelled("To (UTC)", rx.input(type="date", name="end", default_value=StatsState.end,
                                           key=StatsState.end, id="stats-end")),
            _labelled("Granularity", _select("granularity", [("hour", "Hour (≤ 7 days)"), ("day", "Day"),
                                                             ("week", "Week"), ("month", "Month")],
                                             StatsState.granularity)),
            _labelled("Kind", _select("kind", [("all", "All kinds"), ("tokens", "Inference"),
                                               ("training", "Training")], StatsState.kind)),
            _labelled("Model", rx.el.select(
                rx.el.option("All models", value="all"),
                rx.foreach(StatsState.model_options, lambda m: rx.el.option(m["name"], value=m["id"])),
                name="model", default_value=StatsState.model, style=styles.native_select_style)),
            _labelled("User (email)", rx.input(name="user", placeholder="everyone", default_value=StatsState.user_email,
                                               max_length=320, id="stats-user")),
            _labelled("Top N", _select("top", [(t, t) for t in TOP_CHOICES], StatsState.top)),
            rx.button("Apply", type="submit", id="stats-apply"),
            wrap="wrap", spacing="3", align="end",
        ),
        on_submit=StatsState.apply_filters,
        width="100%",
    )


CHART_NAMES = {"over_time": "Usage over time", "monthly": "Monthly usage: inference vs training",
               "top_users": "Top users in the range", "models": "Usage by model",
               "assigned": "Assigned vs used this month, per user"}


def _chart(key: str, fig, export_label: str = "CSV") -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.cond(
                StatsState.empty[key],
                rx.vstack(rx.text(CHART_NAMES[key], size="4"),
                          rx.center(rx.text("No usage for these filters in this range.", color=styles.muted_text_color,
                                            class_name="chart-empty"), height="160px", width="100%"),
                          width="100%", padding="0.5rem"),
                # `fig` is a plain dict figure (components/charts.py), typed as a Figure for the prop check
                rx.plotly.basic(data=fig.to(go.Figure), width="100%",
                                config={"displaylogo": False, "responsive": True, "displayModeBar": False},
                                id=f"chart-{key}"),
            ),
            rx.cond(StatsState.notes[key] != "", rx.text(StatsState.notes[key], size="1",
                                                         color=styles.muted_text_color)),
            rx.hstack(rx.spacer(), rx.button(rx.icon("download", size=14), export_label, size="1", variant="soft",
                                             on_click=StatsState.export_chart(key), id=f"export-{key}")),
            width="100%", spacing="2",
        ),
        width="100%",
    )


def export_bar() -> rx.Component:
    return rx.card(
        rx.vstack(
            rx.hstack(
                rx.text("Exports for the range", weight="medium"),
                rx.spacer(),
                rx.button(rx.icon("users", size=14), "Per-user usage (CSV)", variant="soft", size="2",
                          on_click=StatsState.export_chart("per_user"), id="export-per-user"),
                rx.button(rx.icon("file-down", size=14), "Raw usage events (CSV)", size="2",
                          on_click=StatsState.export_raw, loading=StatsState.export_running, id="export-raw"),
                wrap="wrap", spacing="2", width="100%", align="center",
            ),
            rx.cond(
                StatsState.export_running,
                rx.hstack(rx.progress(value=StatsState.export_progress, max=100, width="100%"),
                          rx.button("Cancel", color_scheme="red", variant="soft", size="1",
                                    on_click=StatsState.cancel_export, id="export-cancel"),
                          width="100%", align="center"),
            ),
            rx.cond(StatsState.export_message != "",
                    rx.hstack(rx.text(StatsState.export_message, size="2", id="export-message"),
                              rx.cond(StatsState.export_ready,
                                      rx.link("Download again", on_click=StatsState.download_export, size="2")),
                              spacing="3")),
            width="100%", spacing="2",
        ),
        width="100%",
    )


def org_table() -> rx.Component:
    cols = [("org", "Organization"), ("purchased", "Purchased"), ("assigned", "Assigned"), ("used", "Used this month"),
            ("projected", "Projected"), ("days_left", "Days left")]
    return rx.cond(
        StatsState.org_rows.length() > 0,
        rx.card(rx.table.root(
            rx.table.header(rx.table.row(*[rx.table.column_header_cell(label) for _, label in cols])),
            rx.table.body(rx.foreach(StatsState.org_rows, lambda r: rx.table.row(
                *[rx.table.cell(r[k]) for k, _ in cols]))),
            width="100%", size="1"), width="100%", overflow_x="auto"),
    )


@admin_page(nav_key="stats", on_load=StatsState.load, all_orgs=True)
def statistics_page() -> rx.Component:
    return rx.vstack(
        rx.grid(rx.foreach(StatsState.cards, _card), columns=rx.breakpoints(initial="2", sm="3", md="5"), gap="3",
                width="100%", id="stats-cards"),
        org_table(),
        filters(),
        rx.cond(StatsState.error != "", rx.callout(StatsState.error, color_scheme="red", icon="triangle-alert",
                                                   width="100%", id="stats-error")),
        export_bar(),
        rx.grid(
            _chart("over_time", StatsState.fig_over_time),
            _chart("monthly", StatsState.fig_monthly),
            _chart("top_users", StatsState.fig_top_users),
            _chart("models", StatsState.fig_models),
            grid_template_columns="repeat(auto-fit, minmax(min(100%, 520px), 1fr))",
            spacing="4", width="100%",
        ),
        _chart("assigned", StatsState.fig_assigned),
        spacing="4", width="100%",
    )

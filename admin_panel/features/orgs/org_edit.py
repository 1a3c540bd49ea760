"""The Organizations page's edit dialog: fields, monthly caps and allowed models."""

import reflex as rx

from admin_panel.features.orgs.org_edit_state import OrgEditState
from admin_panel.ui import styles
from admin_panel.ui.widgets import dialog_buttons

FIELDS = (("name", "Name"), ("billing_address", "Billing address"), ("contact_name", "Point of contact"),
          ("email", "Contact e-mail"), ("phone", "Phone"), ("country", "Country"), ("email_domain", "E-mail domain"))


def _input(name: str, label: str, **props) -> rx.Component:
    return rx.vstack(rx.text(label, as_="label", html_for=f"org-{name}", size="2", weight="medium"),
                     rx.input(id=f"org-{name}", name=name, default_value=OrgEditState.org[name], width="100%",
                              key=OrgEditState.org["name"] + name, **props),
                     spacing="1", width="100%")


def _model(m: dict) -> rx.Component:
    return rx.checkbox(m["name"], checked=m["allowed"] == "yes",
                       on_change=lambda on: OrgEditState.toggle_model(m["id"], on), size="2",
                       class_name="model-option")


def edit_dialog() -> rx.Component:
    return rx.dialog.root(
        rx.dialog.content(
            rx.dialog.title("Edit organization"),
            rx.form(
                rx.vstack(
                    rx.cond(OrgEditState.error != "", rx.callout(OrgEditState.error, icon="triangle-alert",
                                                                 color_scheme="red", width="100%", role="alert",
                                                                 id="org-edit-error")),
                    rx.grid(*[_input(n, label, max_length=500) for n, label in FIELDS],
                            _input("monthly_token_cap", "Monthly token cap (empty = none)", input_mode="numeric"),
                            _input("monthly_training_cap", "Monthly training cap (empty = none)",
                                   input_mode="numeric"),
                            columns=rx.breakpoints(initial="1", sm="2"), spacing="3", width="100%"),
                    rx.text("Allowed models", size="2", weight="medium"),
                    rx.text("None ticked: every model is allowed.", size="1", color=styles.muted_text_color),
                    rx.flex(rx.foreach(OrgEditState.models, _model), wrap="wrap", gap="0.75rem 1.25rem"),
                    dialog_buttons("Save", "org-edit-save"),
                    spacing="3",
                ),
                on_submit=OrgEditState.save,
            ),
            max_width="640px",
        ),
        open=OrgEditState.is_open,
        on_open_change=OrgEditState.set_open,
    )

"""The per-row action menu of the user table and the confirmation dialog every action goes through."""

import reflex as rx

from admin_panel.features.users.state import UsersState
from admin_panel.shell.state import ShellState

TITLES = {
    "paid_on": "Set paid", "paid_off": "Set not paid", "ban": "Ban user", "unban": "Lift ban",
    "disable": "Disable user", "verify": "Mark e-mail verified", "role": "Change role", "pin": "Pin allocation",
    "unpin": "Unpin allocation", "invite": "New invitation link", "reset_link": "Password reset link",
    "reset_mfa": "Reset MFA",
}
EXPLAIN = {
    "paid_on": "The user can spend tokens again. A user without an allocation gets the default one.",
    "paid_off": "The user can no longer spend tokens until set paid again. Allocations are kept.",
    "ban": "A banned user is signed out everywhere and cannot sign in. Give a reason; an end date is optional "
           "(the ban lifts itself then).",
    "unban": "The user can sign in again.",
    "disable": "Sets the user to not paid and both allocations to 0.",
    "verify": "Marks the e-mail address as verified.",
    "role": "Admin, finance and super admin roles need MFA before they can use the Admin Panel.",
    "pin": "A pinned allocation is never changed by automatic distribution, increases or resets.",
    "unpin": "Automatic distribution, increases and resets may change this allocation again.",
    "invite": "Creates a new link to choose a password (e-mailed when SMTP is configured). Earlier invitation "
              "links stop working.",
    "reset_link": "Creates a single-use link to set a new password, for you to pass on. Earlier links stop "
                  "working; using it signs the user out everywhere.",
    "reset_mfa": "Turns off the user's authenticator app and recovery codes and signs them out everywhere; they "
                 "sign in with their password and enrol again. Asks for your own fresh code.",
}
DESTRUCTIVE = ("ban", "disable", "paid_off", "reset_mfa")


def _item(label: str, icon: str, action: str, row: dict, **props) -> rx.Component:
    return rx.menu.item(rx.icon(icon, size=14), label, on_click=UsersState.open_action(action, row["id"]),
                        class_name=f"action-{action}", **props)


def row_menu(row: dict) -> rx.Component:
    return rx.menu.root(
        rx.menu.trigger(rx.icon_button(rx.icon("ellipsis", size=16), variant="ghost", size="1",
                                       aria_label="Actions", class_name="row-actions")),
        rx.menu.content(
            rx.cond(row["paid"] == "yes", _item("Set not paid", "circle-off", "paid_off", row),
                    _item("Set paid", "circle-check", "paid_on", row)),
            rx.cond(row["banned"] == "yes", _item("Lift ban", "shield-check", "unban", row),
                    _item("Ban…", "ban", "ban", row, color_scheme="red")),
            _item("Disable", "power-off", "disable", row, color_scheme="red"),
            rx.cond(row["verified"] == "no", _item("Mark e-mail verified", "mail-check", "verify", row)),
            _item("Change role…", "user-cog", "role", row),
            rx.cond(row["pinned"] == "yes", _item("Unpin allocation", "pin-off", "unpin", row),
                    _item("Pin allocation", "pin", "pin", row)),
            rx.cond(row["invited"] == "yes", _item("New invitation link…", "mail-plus", "invite", row)),
            rx.cond(ShellState.is_super, rx.fragment(
                rx.menu.separator(),
                _item("Password reset link…", "key-round", "reset_link", row),
                rx.cond(row["mfa"] == "yes", _item("Reset MFA…", "shield-off", "reset_mfa", row, color_scheme="red")),
            )),
        ),
    )


def _fields() -> rx.Component:
    return rx.match(
        UsersState.action,
        ("ban", rx.vstack(
            rx.text("Reason", size="2", weight="medium"),
            rx.text_area(name="reason", placeholder="Why is this user banned?", max_length=500, required=True,
                         width="100%", id="ban-reason"),
            rx.text("Ends on (optional)", size="2", weight="medium"),
            rx.input(type="date", name="until", id="ban-until"),
            spacing="2", width="100%")),
        ("role", rx.vstack(
            rx.text("New role", size="2", weight="medium"),
            rx.select(UsersState.grantable, name="role", default_value=UsersState.action_user["role"],
                      id="role-select"),
            spacing="2", width="100%")),
        rx.fragment(),
    )


def _link_box() -> rx.Component:
    """The link an invitation or reset action created: shown once, with a copy button."""
    return rx.vstack(
        rx.hstack(
            rx.input(value=UsersState.action_link, read_only=True, width="100%", id="action-link"),
            rx.icon_button(rx.icon("copy", size=14), type="button", variant="soft", aria_label="Copy link",
                           on_click=[rx.set_clipboard(UsersState.action_link), rx.toast.info("Link copied.")]),
            width="100%", spacing="2",
        ),
        rx.text(UsersState.action_link_note, size="1", color_scheme="gray", id="action-link-note"),
        rx.hstack(rx.button("Done", type="button", on_click=UsersState.close_action, id="action-done"),
                  justify="end", width="100%"),
        spacing="3", width="100%",
    )


def action_dialog() -> rx.Component:
    title = rx.match(UsersState.action, *list(TITLES.items()), "")
    explain = rx.match(UsersState.action, *list(EXPLAIN.items()), "")
    destructive = rx.match(UsersState.action, *[(k, True) for k in DESTRUCTIVE], False)
    return rx.alert_dialog.root(
        rx.alert_dialog.content(
            rx.alert_dialog.title(title),
            rx.alert_dialog.description(
                rx.text(rx.text.strong(UsersState.action_user["email"]), " — ", explain), size="2",
                margin_bottom="1rem"),
            rx.cond(UsersState.action_link != "", _link_box(), rx.form(
                rx.vstack(
                    _fields(),
                    rx.cond(UsersState.action_error != "",
                            rx.callout(UsersState.action_error, icon="triangle-alert", color_scheme="red",
                                       width="100%", role="alert", id="action-error")),
                    rx.hstack(
                        rx.button("Cancel", variant="soft", color_scheme="gray", type="button",
                                  on_click=UsersState.close_action),
                        rx.button(title, type="submit", color_scheme=rx.cond(destructive, "red", "indigo"),
                                  id="confirm-action"),
                        justify="end", width="100%", spacing="3",
                    ),
                    spacing="3", width="100%",
                ),
                on_submit=UsersState.confirm_action,
            )),
            max_width="480px",
        ),
        open=UsersState.action != "",
        on_open_change=UsersState.set_action_open,
    )

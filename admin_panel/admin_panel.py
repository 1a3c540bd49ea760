"""The Steward Reflex app: pages are registered here."""

import reflex as rx

import models  # noqa: F401  (registers the tables, so Reflex's start-up schema check sees them)

from . import styles
from .pages import login

app = rx.App(style=styles.base_style)

for route in login.ROUTES:
    app.add_page(login.login, route=route, title=login.TITLE)

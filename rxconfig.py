"""Reflex configuration. Every setting can be overridden by a REFLEX_* environment variable."""

import reflex as rx

from admin_panel.ui import styles
from services.core import settings

config = rx.Config(
    app_name="admin_panel",
    db_url=settings.db_url(),
    redis_url=settings.redis_url(),
    telemetry_enabled=False,
    show_built_with_reflex=False,
    plugins=[rx.plugins.RadixThemesPlugin(theme=styles.theme()), rx.plugins.SitemapPlugin()],
)

"""The Steward Reflex app: the default-deny guard, the security headers and the pages (`register_pages`: every
`@public_page` and `@admin_page` under admin_panel/features/) are registered here."""

import reflex as rx

import models  # noqa: F401  (registers the tables, so Reflex's start-up schema check sees them)
from admin_panel.api import gateway_api
from admin_panel.runtime import csp, log_redaction
from admin_panel.runtime.guard import GuardMiddleware
from admin_panel.runtime.scheduler import run_jobs_forever, start_background_workers
from admin_panel.runtime.security_headers import SecurityHeaders
from admin_panel.shell.layout import register_pages
from admin_panel.ui import styles

log_redaction.install()  # no client or session token in the server's logs


class StewardApp(rx.App):
    """rx.App whose ASGI app (what the server calls: `app()`, a factory) is wrapped in the security headers, from
    outside all that Reflex assembles: its CORS middleware, the mounted gateway API, the frontend's static files
    (single-port prod)."""

    def __call__(self):
        config = rx.config.get_config()
        return SecurityHeaders(super().__call__(), proxy_hops=config.trusted_proxy_hops,
                               connect_sources=csp.backend_sources(config.api_url))


app = StewardApp(style=styles.base_style, api_transformer=gateway_api)
app.add_middleware(GuardMiddleware())
app.register_lifespan_task(run_jobs_forever)  # the automatic jobs (services/ops/jobs.py)
app.register_lifespan_task(start_background_workers)  # webhook sender, reservation expiry

register_pages(app)

"""The Steward Reflex app: the default-deny guard, the security headers and the pages are registered here."""

import reflex as rx

import models  # noqa: F401  (registers the tables, so Reflex's start-up schema check sees them)
from admin_panel.api import gateway_api
from admin_panel.features.member import page as member
from admin_panel.features.member.state import MemberState
from admin_panel.features.onboarding import page as enterprise_request
from admin_panel.features.onboarding.state import EnterpriseRequestState
from admin_panel.features.signin import login_page as login
from admin_panel.features.signin import mfa_page as mfa
from admin_panel.features.signin import password_page as password
from admin_panel.features.signin.mfa_state import MfaSetupState, MfaVerifyState
from admin_panel.features.signin.state import ForgotPasswordState, ResetPasswordState
from admin_panel.features.signup import page as signup
from admin_panel.features.signup.state import InviteState, RegisterState, VerifyEmailState
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

for route in login.ROUTES:
    app.add_page(login.login, route=route, title=login.TITLE, on_load=login.ON_LOAD)
app.add_page(password.forgot_password, route=password.FORGOT_ROUTE, title=password.FORGOT_TITLE,
             on_load=ForgotPasswordState.clear)
app.add_page(password.reset_password, route=password.RESET_ROUTE, title=password.RESET_TITLE,
             on_load=ResetPasswordState.clear)
app.add_page(mfa.mfa_setup, route=mfa.SETUP_ROUTE, title=mfa.SETUP_TITLE, on_load=MfaSetupState.load)
app.add_page(mfa.mfa_verify, route=mfa.VERIFY_ROUTE, title=mfa.VERIFY_TITLE, on_load=MfaVerifyState.load)
app.add_page(member.member_page, route=member.ROUTE, title=member.TITLE, on_load=MemberState.load)
app.add_page(enterprise_request.enterprise_request_page, route=enterprise_request.ROUTE,
             title=enterprise_request.TITLE, on_load=EnterpriseRequestState.load)
app.add_page(signup.invite_page, route=signup.INVITE_ROUTE, title=signup.INVITE_TITLE, on_load=InviteState.load)
app.add_page(signup.register_page, route=signup.REGISTER_ROUTE, title=signup.REGISTER_TITLE,
             on_load=RegisterState.clear)
app.add_page(signup.verify_email_page, route=signup.VERIFY_ROUTE, title=signup.VERIFY_TITLE,
             on_load=VerifyEmailState.clear)
register_pages(app)

"""The Steward Reflex app: the default-deny guard and the pages are registered here."""

import reflex as rx

import models  # noqa: F401  (registers the tables, so Reflex's start-up schema check sees them)

from . import styles
from .guard import GuardMiddleware
from .pages import admin, login, member, mfa, password
from .state.admin import AdminState
from .state.auth import ForgotPasswordState, ResetPasswordState
from .state.member import MemberState
from .state.mfa import MfaSetupState, MfaVerifyState

app = rx.App(style=styles.base_style)
app.add_middleware(GuardMiddleware())

for route in login.ROUTES:
    app.add_page(login.login, route=route, title=login.TITLE, on_load=login.ON_LOAD)
app.add_page(password.forgot_password, route=password.FORGOT_ROUTE, title=password.FORGOT_TITLE,
             on_load=ForgotPasswordState.clear)
app.add_page(password.reset_password, route=password.RESET_ROUTE, title=password.RESET_TITLE,
             on_load=ResetPasswordState.clear)
app.add_page(mfa.mfa_setup, route=mfa.SETUP_ROUTE, title=mfa.SETUP_TITLE, on_load=MfaSetupState.load)
app.add_page(mfa.mfa_verify, route=mfa.VERIFY_ROUTE, title=mfa.VERIFY_TITLE, on_load=MfaVerifyState.load)
app.add_page(member.member_page, route=member.ROUTE, title=member.TITLE, on_load=MemberState.load)
app.add_page(admin.admin_page, route=admin.ROUTE, title=admin.TITLE, on_load=AdminState.load)

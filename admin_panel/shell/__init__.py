"""The Admin Panel shell: `@admin_page` registers a page; the shell adds sidebar, header and org context."""

from admin_panel.shell.nav import NAV, NavItem
from admin_panel.shell.registry import admin_page
from admin_panel.shell.state import ShellState
from admin_panel.shell.stepup import StepUpState, ask_step_up

__all__ = ["NAV", "NavItem", "ShellState", "StepUpState", "admin_page", "ask_step_up"]

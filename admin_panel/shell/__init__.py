"""The Admin Panel shell: `@admin_page` registers a page; the shell adds sidebar, header and org context."""

from .nav import NAV, NavItem
from .registry import admin_page
from .state import ShellState
from .stepup import StepUpState, ask_step_up

__all__ = ["NAV", "NavItem", "ShellState", "StepUpState", "admin_page", "ask_step_up"]

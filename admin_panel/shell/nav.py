"""The Admin Panel's sidebar entries: one per page, with the roles that may use it."""

from dataclasses import dataclass

from services.core.permissions import MANAGE, READ_STATS

SUPER = ("super_admin",)


@dataclass(frozen=True)
class NavItem:
    key: str
    label: str
    icon: str  # a lucide icon name (rx.icon)
    route: str
    roles: tuple[str, ...]
    section: str  # "Management" or "Analytics"


NAV: tuple[NavItem, ...] = (
    NavItem("orgs", "Organizations", "building-2", "/admin/organizations", SUPER, "Management"),
    NavItem("users", "User Management", "users", "/admin/users", MANAGE, "Management"),
    NavItem("distribution", "Token Distribution", "split", "/admin/distribution", MANAGE, "Management"),
    NavItem("requests", "Token Requests", "inbox", "/admin/requests", MANAGE, "Management"),
    NavItem("api_keys", "API Keys", "key-round", "/admin/api-keys", MANAGE, "Management"),
    NavItem("stats", "Token Statistics", "chart-column", "/admin/statistics", READ_STATS, "Analytics"),
    NavItem("logs", "Activity Logs", "scroll-text", "/admin/activity", MANAGE, "Analytics"),
)
SECTIONS = ("Management", "Analytics")
BY_KEY = {item.key: item for item in NAV}


def visible_items(role: str, available: set[str] | None = None) -> list[NavItem]:
    """The entries a role may use (and, when given, only pages that are registered)."""
    return [i for i in NAV if role in i.roles and (available is None or i.key in available)]


def home_route(role: str, available: set[str] | None = None) -> str | None:
    """The first page a role may open: where `/admin` leads."""
    items = visible_items(role, available)
    return items[0].route if items else None

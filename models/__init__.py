"""SQLModel tables. Importing this package registers every table on SQLModel.metadata."""

from models.audit import AuditEvent, AuditHead, SignInEvent
from models.auth import ApiKey, AuthSession, LoginThrottle, PasswordReset, RecoveryCode
from models.base import ADMIN_ROLES, INT64_MAX, KINDS, RequestStatus, Role, TokenKind, month_start, utcnow
from models.catalog import RATE_SCALE, AIModel
from models.distribution import DistributionLock, DistributionPolicy, DistributionRun
from models.org import Organization, OrgAllowedModel, Purchase
from models.requests import TokenRequest
from models.usage import ROLLUP_TABLES, UsageDaily, UsageEvent, UsageHourly, UsageUserDaily, UsageUserMonthly
from models.user import User

__all__ = [
    "ADMIN_ROLES", "AIModel", "ApiKey", "AuditEvent", "AuditHead", "AuthSession", "DistributionLock",
    "DistributionPolicy", "DistributionRun", "INT64_MAX", "KINDS", "LoginThrottle", "OrgAllowedModel",
    "Organization", "PasswordReset", "RecoveryCode",
    "Purchase", "RATE_SCALE", "ROLLUP_TABLES", "RequestStatus", "Role", "SignInEvent", "TokenKind",
    "TokenRequest", "UsageDaily", "UsageEvent", "UsageHourly", "UsageUserDaily", "UsageUserMonthly", "User",
    "month_start", "utcnow",
]

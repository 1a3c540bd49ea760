"""SQLModel tables. Importing this package registers every table on SQLModel.metadata.

One import line per module (keeps parallel feature branches from colliding); `__all__` is everything
imported here.
"""

from models.audit import AuditEvent, AuditHead, SignInEvent
from models.auth import ApiKey, AuthSession, LoginThrottle, PasswordReset, RecoveryCode
from models.base import (
                         ADMIN_ROLES,
                         INT64_MAX,
                         KINDS,
                         RequestStatus,
                         Role,
                         TokenKind,
                         month_start,
                         table_of,
                         utcnow,
                         year_start,
)
from models.catalog import RATE_SCALE, AIModel
from models.distribution import DistributionLock, DistributionPolicy, DistributionRun
from models.gateway import Notice, OrgWebhook, RateWindow, Reservation, WebhookDelivery
from models.jobs import JobMark
from models.mail import MailOutbox
from models.onboarding import EnterpriseRequest, EnterpriseStatus, Notification
from models.org import OrgAllowedModel, Organization, Purchase
from models.requests import TokenRequest
from models.usage import (
                         ROLLUP_TABLES,
                         UsageDaily,
                         UsageEvent,
                         UsageHourly,
                         UsageMonthly,
                         UsageOrgDaily,
                         UsageUserDaily,
                         UsageUserMonthly,
                         UsageUserMonthTotal,
                         UsageUserYearTotal,
)
from models.user import User

__all__ = sorted(name for name in dir() if not name.startswith("_") and name not in {
    "audit", "auth", "base", "catalog", "distribution", "gateway", "jobs", "mail", "onboarding", "org", "requests",
    "usage", "user"})

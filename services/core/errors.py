"""Domain errors. Each carries a message a person can read; the UI shows it as is."""


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status = 404


class Forbidden(DomainError):
    status = 403


class Invalid(DomainError):
    status = 422


class Conflict(DomainError):
    status = 409

    def __init__(self, message: str, *, field: str | None = None, retry_after: int | None = None):
        super().__init__(message, field=field)
        self.retry_after = retry_after


class AlreadyReviewed(Conflict):
    """A token request someone else (or a double click) approved or denied first."""

    def __init__(self, message: str = "This request was already reviewed."):
        super().__init__(message)


class StepUpRequired(Forbidden):
    """The action needs MFA verified within the last few minutes; the UI asks for a code and retries."""


class Unauthorized(DomainError):
    """No valid credentials (an unknown or missing API key)."""

    status = 401


class RateLimited(DomainError):
    status = 429

    def __init__(self, message: str, *, retry_after: int = 1):
        super().__init__(message)
        self.retry_after = retry_after

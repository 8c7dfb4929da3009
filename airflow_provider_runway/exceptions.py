"""Errors raised by the Runway provider.

Every error the provider raises derives from :class:`RunwayError`, itself an ``AirflowException``, so a
DAG author can catch the whole family or one branch::

    RunwayError (AirflowException)
    ├── RunwayConfigurationError        connection is unusable: missing key, malformed base URL,
    │                                   a URL that does not speak the API (301, HTML page)
    ├── RunwayValidationError           bad input found before any HTTP call; names the field
    ├── RunwayCreditBalanceError        the credit balance is below min_credit_balance: refused just
    │                                   before the create, so nothing is billed
    ├── RunwayAPIError                  the service answered with an HTTP error (status, method, path,
    │   │                               the server's message; never the key)
    │   ├── RunwayAuthError             401 / 403: bad or disabled key, suspended account
    │   ├── RunwayNotFoundError         404, or task_not_exist after its grace window
    │   ├── RunwayRateLimitError        429 that outlived the retry budget (retry_after)
    │   ├── RunwayServerError           5xx that outlived the retry budget
    │   ├── RunwayProtocolError         2xx whose body is not the API's JSON
    │   └── RunwayOutputExpiredError    a signed output URL answered 403/410: fetch the task again
    ├── RunwayTransportError            no HTTP answer at all (refused, reset, timeout) after retries
    │   └── RunwaySubmitUncertainError  a create may have reached the server but its answer was lost:
    │                                   never retried, not even by Airflow (AirflowFailException)
    ├── RunwayTaskFailedError           the task ended FAILED; failure_code, failure, category
    │   └── RunwayTaskRejectedError     moderation or invalid asset: also AirflowFailException,
    │                                   so Airflow does not retry it
    ├── RunwayTaskCancelledError        the task was cancelled or deleted remotely
    ├── RunwayTaskNotVisibleError       the gateway still hides a task of this task's own create
    │                                   (task_not_exist) after not_exist_grace; kept, not cancelled,
    │                                   so a retry re-attaches
    ├── RunwayCreateUnconfirmedError    an earlier try began a create whose task id was never recorded:
    │                                   it may exist and be billed (AirflowFailException)
    └── RunwayTimeoutError              the provider's own deadline passed while the task was unfinished

Messages never carry the API key or a full signed output URL. An error that ends a try before any
Runway task was created ends its message with what was billed (nothing) and what to do next
(:meth:`RunwayError.conclude`, worded by :func:`airflow_provider_runway.core.outcome.nothing_billed`): it
is the last line of the failed task's log.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_runway._compat import AirflowException, AirflowFailException


class RunwayError(AirflowException):
    """Base class of every error raised by the Runway provider.

    :param remedy: what to do about it, when the raiser knows better than the error's class (the last
        line of a try that created nothing says it).
    """

    def __init__(self, *args: Any, remedy: str | None = None) -> None:
        self.remedy = remedy
        super().__init__(*args)

    def conclude(self, line: str) -> None:
        """End the message with ``line`` (whether anything was billed, what to do next), once."""
        message = str(self.args[0]).rstrip() if self.args else ""
        if not line or message.endswith(line):
            return
        if message and not message.endswith((".", "!", "?")):
            message += "."
        self.args = (f"{message} {line}".lstrip(), *self.args[1:])


class RunwayConfigurationError(RunwayError):
    """The Runway connection (or a provider setting) cannot be used as it is."""


class RunwayValidationError(RunwayError, ValueError):
    """An argument is invalid; raised before any request is sent, so no credits are spent.

    :param field: the argument (or wire field) that is wrong, e.g. ``seed`` or ``prompt_image[1].uri``.
    """

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"Invalid {field!s}: {message}")


class RunwayCreditBalanceError(RunwayError):
    """The organization's credit balance is below the operator's ``min_credit_balance``; found just
    before the create, so no task was created.

    :param balance: the balance read from ``GET /v1/organization``, in credits.
    :param minimum: the operator's ``min_credit_balance``.
    """

    def __init__(self, message: str, *, balance: float, minimum: float) -> None:
        self.balance = balance
        self.minimum = minimum
        super().__init__(message)


class RunwayAPIError(RunwayError):
    """The service answered a request with an HTTP error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        method: str | None = None,
        path: str | None = None,
        body: Any = None,
        issues: list[dict[str, Any]] | None = None,
    ) -> None:
        #: the HTTP status (``status_code`` is taken by AirflowException for the API server's use)
        self.http_status = status_code
        self.method = method
        self.path = path
        self.body = body
        self.issues = issues or []
        self.server_message = message
        where = f"{method} {path}" if method and path else (path or "")
        status = f"HTTP {status_code}" if status_code is not None else "error"
        text = f"Runway API {status} on {where}: {message}" if where else f"Runway API {status}: {message}"
        if self.issues:
            details = "; ".join(
                f"{'.'.join(str(p) for p in issue.get('path') or []) or '?'}: {issue.get('message', '')}"
                for issue in self.issues[:10]
                if isinstance(issue, dict)
            )
            if details:
                text = f"{text} ({details})"
        super().__init__(text)


class RunwayAuthError(RunwayAPIError):
    """401 or 403: the key is wrong, disabled, or the account is suspended."""


class RunwayNotFoundError(RunwayAPIError):
    """404, or ``task_not_exist`` past its grace window: the task is unknown or was deleted."""


class RunwayRateLimitError(RunwayAPIError):
    """429 that outlived the retry budget.

    :param retry_after: seconds the server asked us to wait, when it said so.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class RunwayServerError(RunwayAPIError):
    """5xx that outlived the retry budget."""


class RunwayProtocolError(RunwayAPIError):
    """A success status whose body is not the API's JSON (or not the shape the API documents)."""


class RunwayOutputExpiredError(RunwayAPIError):
    """A signed output URL has expired (or was revoked); a new GET of the task returns fresh ones."""


class RunwayTransportError(RunwayError):
    """No HTTP answer at all (connection refused or reset, timeout) after the retry budget."""


class RunwaySubmitUncertainError(RunwayTransportError, AirflowFailException):
    """A create request may have reached the server, but its answer was lost.

    The task may exist and be billed. The provider never retries such a request, because the API takes no
    idempotency key and a second POST could bill a second generation. Being an ``AirflowFailException``,
    it also stops Airflow's own retries, which would create again: a person checks the dashboard first.
    """

    def __init__(self, message: str, *, endpoint: str, task_id: str | None = None) -> None:
        self.endpoint = endpoint
        self.task_id = task_id
        super().__init__(message)


class RunwayTaskFailedError(RunwayError):
    """The Runway task ended ``FAILED``."""

    def __init__(
        self,
        task_id: str,
        *,
        failure: str | None,
        failure_code: str | None,
        category: str,
    ) -> None:
        self.task_id = task_id
        self.failure = failure
        self.failure_code = failure_code
        self.category = category
        code = failure_code or "no failure code"
        super().__init__(f"Runway task {task_id} failed [{code}; {category}]: {failure or 'no reason given'}")


class RunwayTaskRejectedError(RunwayTaskFailedError, AirflowFailException):
    """A failure that a retry cannot fix without changing the input (moderation, invalid asset).

    Being an ``AirflowFailException``, it fails the Airflow task without using its retries: repeated
    moderation failures are billed and can get an account suspended.
    """


class RunwayTaskCancelledError(RunwayError):
    """The Runway task was cancelled (or deleted) before it finished."""

    def __init__(self, task_id: str, detail: str = "") -> None:
        self.task_id = task_id
        suffix = f": {detail}" if detail else ""
        super().__init__(f"Runway task {task_id} was cancelled{suffix}")


class RunwayTaskNotVisibleError(RunwayError):
    """A task this Airflow task created is still answered ``task_not_exist`` by the gateway.

    It is not cancelled and the durable record keeps it, so Airflow's retry re-attaches to it (and waits
    another ``not_exist_grace``) instead of paying for a new one.
    """

    def __init__(self, task_id: str, message: str) -> None:
        self.task_id = task_id
        super().__init__(message)


class RunwayCreateUnconfirmedError(RunwayError, AirflowFailException):
    """An earlier try of this logical generation started a (paid) create whose task id was never recorded.

    The worker died during the create, or its answer was lost: a remote task may exist and be billed. Being
    an ``AirflowFailException``, it stops Airflow's retries; the operator's ``recreate_unconfirmed=True``
    creates anew instead.
    """

    def __init__(self, message: str, *, record_location: str) -> None:
        self.record_location = record_location
        super().__init__(message)


class RunwayTimeoutError(RunwayError):
    """The provider's deadline passed before the task finished."""

    def __init__(self, task_id: str, message: str) -> None:
        self.task_id = task_id
        super().__init__(message)

"""One logical generation, one bill: what an operator does around its paid create.

Before it: what an earlier try left (:func:`resume`: re-attach to its task, or refuse when its create was
never confirmed), and the credit floor (:func:`check_credit_balance`); an error in the steps that create
nothing, or a create the server refused, ends its message saying nothing was billed
(:func:`creating_nothing`). Around it: the durable record, an
intent written before the create and the task id after (:func:`create`), so a crash between any two
steps is recognised by the next try. After it: :func:`forget` once the generation has been handled.

Imported when a task runs, never when a DAG file is parsed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Protocol

from airflow_provider_runway import durable
from airflow_provider_runway.core import defaults, outcome, urls
from airflow_provider_runway.core.exchange import create_may_have_billed
from airflow_provider_runway.core.organization import is_missing_endpoint
from airflow_provider_runway.exceptions import (
    RunwayAPIError,
    RunwayConfigurationError,
    RunwayCreateUnconfirmedError,
    RunwayCreditBalanceError,
    RunwayError,
    RunwayNotFoundError,
    RunwayValidationError,
)

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_runway.core.task import RunwayTask
    from airflow_provider_runway.hooks.runway import RunwayHook


class Operator(Protocol):
    """What this module reads of the operator (``operators.base.RunwayBaseOperator`` is one)."""

    endpoint: str
    durable: bool
    recreate_unconfirmed: bool
    min_credit_balance: float | str | None
    require_credit_check: bool

    @property
    def log(self) -> Any: ...

    @property
    def hook(self) -> RunwayHook: ...


def records_for(op: Operator, context: Context) -> durable.Records | None:
    """The operator's durable records, or None with ``durable=False``."""
    return durable.records_for(context) if op.durable else None


def submit(op: Operator, body: dict[str, Any]) -> Any:
    """The (paid) create; a 404 or 405 (nothing was created) names the endpoint the URL lacks."""
    try:
        return op.hook.submit(op.endpoint, body)
    except RunwayAPIError as err:
        if not is_missing_endpoint(err):
            raise
        from airflow_provider_runway.endpoints import _registry

        settings = op.hook.settings
        name = urls.endpoint_path(op.endpoint)[len("/v1/") :]
        hint = ""
        documented = _registry.gateway_endpoints()
        if settings.looks_like_gateway and name not in documented:
            hint = (
                f" The CometAPI gateway documents only {', '.join(documented)}: use a Runway "
                f"direct connection ({defaults.RUNWAY_DIRECT_BASE_URL}) for {name}."
            )
        raise RunwayConfigurationError(
            f"Connection {settings.conn_id!r} ({settings.base_url}) has no POST /v1/{name} endpoint "
            f"(HTTP {err.http_status}: {err}).{hint}",
            remedy=f"use a connection whose base URL serves POST /v1/{name}",
        ) from None


def min_credit_balance(op: Operator) -> float | None:
    value = op.min_credit_balance
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not number >= 0 or number == float("inf"):
        raise RunwayValidationError(
            "min_credit_balance", f"must be a number of credits >= 0 (or None), got {value!r:.40}"
        )
    return number


def check_credit_balance(op: Operator, minimum: float) -> float | None:
    """Refuse to create when the credit balance is below ``minimum``; the balance, or None when this
    connection has no organization endpoint (and the check is not required)."""
    try:
        balance = op.hook.get_credit_balance()
    except RunwayAPIError as err:
        if not is_missing_endpoint(err):
            raise
        settings = op.hook.settings
        message = (
            f"Connection {settings.conn_id!r} ({settings.base_url}) has no organization endpoint "
            f"(GET /v1/organization answered HTTP {err.http_status}; the CometAPI gateway has none), "
            f"so the credit balance cannot be compared with min_credit_balance={minimum:g}"
        )
        if op.require_credit_check:
            raise RunwayConfigurationError(
                f"{message} (require_credit_check=True).",
                remedy="use a Runway direct connection, or set require_credit_check=False",
            ) from None
        op.log.warning("%s; creating the task unchecked (require_credit_check=True refuses instead)", message)
        return None
    if balance < minimum:
        raise RunwayCreditBalanceError(
            f"The Runway credit balance is {balance:g} credits, below min_credit_balance={minimum:g} of "
            f"the {op.endpoint} task.",
            balance=balance,
            minimum=minimum,
        )
    op.log.info("Runway credit balance %g >= min_credit_balance %g", balance, minimum)
    return balance


@contextmanager
def creating_nothing() -> Iterator[None]:
    """Around steps that create no Runway task (the checks, the uploads, the credit floor): a provider
    error raised in them ends its message saying nothing was billed, and what to do."""
    try:
        yield
    except RunwayError as err:
        err.conclude(outcome.nothing_billed(err))
        raise


def resume(
    op: Operator, records: durable.Records | None, request: str | None
) -> tuple[durable.Record | None, RunwayTask | None]:
    """What an earlier try left: the record and task to re-attach to, or ``(None, None)`` to create."""
    if records is None:
        return None, None
    record = records.get()
    decision = durable.resume(record, request)
    if record is None or decision == "create":
        return None, None
    if decision == "changed":
        op.log.warning(
            "The request differs from the one an earlier try made (%s): a new generation. The earlier "
            "Runway task %s is not re-attached to, and is left as it is.",
            record.fingerprint,
            record.task_id or "(its create was never confirmed)",
        )
        return None, None
    if decision == "unconfirmed":
        unconfirmed(
            op,
            records,
            f"An earlier try of this task began a {record.endpoint or op.endpoint} create"
            f"{_when(record.intent_at)} whose answer was never recorded (the worker died during it, or "
            "the answer was lost)",
        )
        return None, None
    task_id = str(record.task_id)
    try:
        task: RunwayTask | None = op.hook.get_task(task_id)
    except RunwayNotFoundError:
        task = None
    outcome = durable.after_look(task, seen=record.seen)
    if outcome == "unconfirmed":
        unconfirmed(
            op,
            records,
            f"Runway task {task_id} from an earlier try{_when(record.submitted_at)} answers 404 and was never "
            "seen, so whether it still runs cannot be told",
        )
        return None, None
    if outcome == "create" or task is None:
        op.log.warning(
            "Runway task %s from an earlier try %s; submitting a new one",
            task_id,
            f"ended {task.status}" if task else "is gone (404 after it was seen)",
        )
        return None, None
    op.log.info(
        "Re-attaching to Runway task %s from an earlier try (%s) instead of creating a new one",
        task_id,
        task.describe(),
    )
    if task.visible:
        record = mark_seen(op, records, record)
    return record, task


def unconfirmed(op: Operator, records: durable.Records, what: str) -> None:
    """An earlier create may have been billed: fail (not retried), unless told to create anew."""
    if op.recreate_unconfirmed:
        op.log.warning(
            "%s. recreate_unconfirmed=True: creating a new task; the earlier one, if it exists, is billed "
            "too.",
            what,
        )
        return
    raise RunwayCreateUnconfirmedError(
        f"{what}. A Runway task may exist and be billed, so this try does NOT create another: check "
        "Runway's dashboard (or the gateway's logs). To create anew anyway, set "
        f"recreate_unconfirmed=True on the operator, or delete {records.location}.",
        record_location=records.location,
    )


def create(
    op: Operator, records: durable.Records | None, body: dict[str, Any], request: str | None
) -> durable.Record:
    """The intent, the (paid) create, then its task id: a crash between any two is recognised later."""
    planned = durable.intent(request, op.endpoint)
    if records is not None:
        records.put(planned)  # fails before the paid call if the record cannot be kept
    try:
        submitted = submit(op, body)
    except BaseException as err:
        if not create_may_have_billed(err):  # refused: nothing was created
            forget(op, records)
            if isinstance(err, RunwayError):  # always, when refused
                err.conclude(outcome.nothing_billed(err))
        raise
    record = planned.with_task(submitted.id, submitted.submitted_at, submitted.estimated_credits)
    if records is not None:
        try:
            records.put(record)
        except Exception as err:  # the task exists: wait for it all the same
            op.log.error(
                "Could not record Runway task %s in %s (%s): a try after a crash will not re-attach to it",
                submitted.id,
                records.location,
                err,
            )
    return record


def mark_seen(op: Operator, records: durable.Records, record: durable.Record) -> durable.Record:
    """Note that a GET showed the task: from now on a 404 means it is gone, not hidden."""
    if record.seen:
        return record
    seen = record.marked_seen()
    try:
        records.put(seen)
    except Exception as err:  # only the meaning of a later 404 is at stake
        op.log.warning("Could not update %s: %s", records.location, err)
    return seen


def forget(op: Operator, records: durable.Records | None) -> None:
    if records is None:
        return
    try:
        records.forget()
    except Exception as err:  # a stale record costs one GET on a later clear, nothing more
        op.log.warning("Could not delete %s: %s", records.location, err)


def _when(epoch: float | None) -> str:
    if not epoch:
        return ""
    return " at " + time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(epoch))

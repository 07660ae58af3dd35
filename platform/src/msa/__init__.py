"""msa: the platform every service is built on. This is its front door.

A service author imports from here and nowhere else: `from msa import ServiceDefinition,
Runtime, emit, subscribe, NotFound, ...`. The names below are the platform's public,
stable API for services (documented in platform/README.md); everything under
`msa.<module>` is the platform's own business and may move. A lint test
(tests/test_front_door.py) keeps every service's code on this door.

Names are imported lazily, on first use, so that `import msa` costs nothing and a
service loads only the parts it uses (a deployed service never imports the runner,
the chaos tooling or the CLI just because the door lists a checker type).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS: dict[str, tuple[str, str]] = {
    # the service and its running parts
    "ServiceDefinition": ("msa.service", "ServiceDefinition"),
    "Runtime": ("msa.runtime", "Runtime"),
    "get_runtime": ("msa.runtime", "get_runtime"),
    "Colocation": ("msa.runtime", "Colocation"),
    "ServiceSettings": ("msa.settings", "ServiceSettings"),
    "load_settings": ("msa.settings", "load_settings"),
    "System": ("msa.system", "System"),
    "load_system": ("msa.system", "load_system"),
    # errors: one line for the user
    "MsaError": ("msa.errors", "MsaError"),
    "ConfigError": ("msa.errors", "ConfigError"),
    # HTTP problems (RFC 9457)
    "Problem": ("msa.problems", "Problem"),
    "NotFound": ("msa.problems", "NotFound"),
    "Conflict": ("msa.problems", "Conflict"),
    "Unprocessable": ("msa.problems", "Unprocessable"),
    "Unavailable": ("msa.problems", "Unavailable"),
    # who is asking
    "CurrentUser": ("msa.principal", "CurrentUser"),
    "AdminUser": ("msa.principal", "AdminUser"),
    "Principal": ("msa.principal", "Principal"),
    "Unauthorized": ("msa.principal", "Unauthorized"),
    "Forbidden": ("msa.principal", "Forbidden"),
    "USER_HEADER": ("msa.principal", "USER_HEADER"),
    "ROLE_HEADER": ("msa.principal", "ROLE_HEADER"),
    "CLIENT_ADDRESS_HEADER": ("msa.principal", "CLIENT_ADDRESS_HEADER"),
    "OperatorOnly": ("msa.service_guard", "OperatorOnly"),
    "OPERATOR": ("msa.service_auth", "OPERATOR"),
    # access tokens
    "Claims": ("msa.auth", "Claims"),
    "TokenVerifier": ("msa.auth", "TokenVerifier"),
    "KeyRing": ("msa.auth", "KeyRing"),
    "bearer_token": ("msa.auth", "bearer_token"),
    "issue_access_token": ("msa.auth", "issue_access_token"),
    "jwks": ("msa.auth", "jwks"),
    "key_directory": ("msa.auth", "key_directory"),
    # idempotency and the database
    "IdempotencyKey": ("msa.idempotency", "IdempotencyKey"),
    "OneStatement": ("msa.one_statement", "OneStatement"),
    "run_idempotent": ("msa.idempotency", "run_idempotent"),
    "Work": ("msa.idempotency", "Work"),
    "snapshot": ("msa.db", "snapshot"),
    "driver": ("msa.db", "driver"),
    "autocommit": ("msa.db", "autocommit"),
    "create_engine": ("msa.db", "create_engine"),
    "run_alembic_env": ("msa.db", "run_alembic_env"),
    "inbox_table": ("msa.tables", "inbox"),
    # events
    "Event": ("msa.events", "Event"),
    "emit": ("msa.messaging", "emit"),
    "subscribe": ("msa.messaging", "subscribe"),
    "Delivery": ("msa.messaging", "Delivery"),
    "Subscription": ("msa.messaging", "Subscription"),
    # calling other services
    "ServiceCallError": ("msa.call_errors", "ServiceCallError"),
    "ServiceUnavailable": ("msa.call_errors", "ServiceUnavailable"),
    "ServiceTimeout": ("msa.call_errors", "ServiceTimeout"),
    "RemoteProblem": ("msa.call_errors", "RemoteProblem"),
    # sagas
    "SagaDefinition": ("msa.sagas", "SagaDefinition"),
    "LocalStatement": ("msa.sagas", "LocalStatement"),
    "SagaContext": ("msa.sagas", "SagaContext"),
    "SagaRefused": ("msa.sagas", "SagaRefused"),
    "Step": ("msa.sagas", "Step"),
    "saga_detail": ("msa.sagas.api", "saga_detail"),
    # metrics
    "business_counter": ("msa.metrics", "business_counter"),
    "ROUTE_LABEL": ("msa.metrics", "ROUTE_LABEL"),
    # the system's checkers, seed and workload (plugged in through system.toml)
    "SystemAccess": ("msa.checks", "SystemAccess"),
    "CheckResult": ("msa.checks", "CheckResult"),
    "CheckSuite": ("msa.checks", "CheckSuite"),
    "Answer": ("msa.tools.chaos.workload", "Answer"),
    "WorkloadContext": ("msa.tools.chaos.workload", "WorkloadContext"),
    "Outcome": ("msa.tools.chaos.record", "Outcome"),
    # operations: what an operator's console reads and does (the system's state,
    # dead letters, streams, the operator's credentials)
    "load_suite": ("msa.checks", "load_suite"),
    "RunnerState": ("msa.runner_state", "RunnerState"),
    "read_state": ("msa.runner_state", "read_state"),
    "MONOLITH_PREFIX": ("msa.serve", "MONOLITH_PREFIX"),
    "key_folder": ("msa.service_auth", "key_folder"),
    "load_credentials": ("msa.service_auth", "load_credentials"),
    "operator_credentials": ("msa.service_auth", "operator_credentials"),
    "list_dead_letters": ("msa.dlq", "list_dead_letters"),
    "replay_dead_letters": ("msa.dlq", "replay"),
    "stream_reports": ("msa.streams", "stream_reports"),
    "operator_nats_url": ("msa.nats_auth", "operator_url"),
}

__all__ = [
    "CLIENT_ADDRESS_HEADER",
    "MONOLITH_PREFIX",
    "OPERATOR",
    "ROLE_HEADER",
    "ROUTE_LABEL",
    "USER_HEADER",
    "AdminUser",
    "Answer",
    "CheckResult",
    "CheckSuite",
    "Claims",
    "Colocation",
    "ConfigError",
    "Conflict",
    "CurrentUser",
    "Delivery",
    "Event",
    "Forbidden",
    "IdempotencyKey",
    "KeyRing",
    "LocalStatement",
    "MsaError",
    "NotFound",
    "OneStatement",
    "OperatorOnly",
    "Outcome",
    "Principal",
    "Problem",
    "RemoteProblem",
    "RunnerState",
    "Runtime",
    "SagaContext",
    "SagaDefinition",
    "SagaRefused",
    "ServiceCallError",
    "ServiceDefinition",
    "ServiceSettings",
    "ServiceTimeout",
    "ServiceUnavailable",
    "Step",
    "Subscription",
    "System",
    "SystemAccess",
    "TokenVerifier",
    "Unauthorized",
    "Unavailable",
    "Unprocessable",
    "Work",
    "WorkloadContext",
    "autocommit",
    "bearer_token",
    "business_counter",
    "create_engine",
    "driver",
    "emit",
    "get_runtime",
    "inbox_table",
    "issue_access_token",
    "jwks",
    "key_directory",
    "key_folder",
    "list_dead_letters",
    "load_credentials",
    "load_settings",
    "load_suite",
    "load_system",
    "operator_credentials",
    "operator_nats_url",
    "read_state",
    "replay_dead_letters",
    "run_alembic_env",
    "run_idempotent",
    "saga_detail",
    "snapshot",
    "stream_reports",
    "subscribe",
]

if TYPE_CHECKING:  # the same names, for type checkers (a test keeps both lists equal)
    from msa.auth import (
        Claims,
        KeyRing,
        TokenVerifier,
        bearer_token,
        issue_access_token,
        jwks,
        key_directory,
    )
    from msa.call_errors import RemoteProblem, ServiceCallError, ServiceTimeout, ServiceUnavailable
    from msa.checks import CheckResult, CheckSuite, SystemAccess, load_suite
    from msa.db import autocommit, create_engine, driver, run_alembic_env, snapshot
    from msa.dlq import list_dead_letters
    from msa.dlq import replay as replay_dead_letters
    from msa.errors import ConfigError, MsaError
    from msa.events import Event
    from msa.idempotency import IdempotencyKey, Work, run_idempotent
    from msa.messaging import Delivery, Subscription, emit, subscribe
    from msa.metrics import ROUTE_LABEL, business_counter
    from msa.nats_auth import operator_url as operator_nats_url
    from msa.one_statement import OneStatement
    from msa.principal import (
        CLIENT_ADDRESS_HEADER,
        ROLE_HEADER,
        USER_HEADER,
        AdminUser,
        CurrentUser,
        Forbidden,
        Principal,
        Unauthorized,
    )
    from msa.problems import Conflict, NotFound, Problem, Unavailable, Unprocessable
    from msa.runner_state import RunnerState, read_state
    from msa.runtime import Colocation, Runtime, get_runtime
    from msa.sagas import LocalStatement, SagaContext, SagaDefinition, SagaRefused, Step
    from msa.sagas.api import saga_detail
    from msa.serve import MONOLITH_PREFIX
    from msa.service import ServiceDefinition
    from msa.service_auth import OPERATOR, key_folder, load_credentials, operator_credentials
    from msa.service_guard import OperatorOnly
    from msa.settings import ServiceSettings, load_settings
    from msa.streams import stream_reports
    from msa.system import System, load_system
    from msa.tables import inbox as inbox_table
    from msa.tools.chaos.record import Outcome
    from msa.tools.chaos.workload import Answer, WorkloadContext


def __getattr__(name: str) -> Any:
    """Import a front-door name from the module that defines it, on first use."""
    try:
        module_name, attribute = _EXPORTS[name]
    except KeyError:
        raise AttributeError(f"module 'msa' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(module_name), attribute)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""Rules of the Lockstep API that /openapi.json states only in words.

JSON Schema cannot compare two values of one body, nor say which values the
server issued, so schemathesis would generate *positive* cases (cases it
expects the server to accept) that break these rules and then report the
server's 422 or 400 as a failure. This hook keeps such positive cases from
being generated; negative cases are left alone, since the server must refuse
them anyway. Each rule below is stated in the document's descriptions and
enforced by the server:

- an integration maps no two fields to the same target (compared
  case-insensitively);
- its `max_wait_seconds` is at least its `grace_period_seconds`;
- its `retry.max_backoff_seconds` is at least `retry.initial_backoff_seconds`;
- a list's `cursor` is one the server handed out (`next_cursor`), on every
  list;
- the tenant's `background_after_seconds` stays at most 1 s: it is how long
  the POSTs of overviews and sync runs wait for their result (the run's
  third parties never answer, so they always wait it out), and a valid
  600 s would outlast the run's request timeout;
- a new token's `admin_id` names an admin of the caller's tenant (the test
  passes the caller's id in LOCKSTEP_TEST_CALLER_ADMIN_ID; another id is the
  422 the document states);
- a new token's `expires_at` is in the future and at most 365 days ahead
  (cases within a minute of either end are left out too, so the clocks of
  this process and the server need not agree to the second).

Two more filters apply to every case, positive or negative:

- `/v1/records/{type}/{id}` with the id `batch` is the path
  `/v1/records/{type}/batch`, a path item of its own (a concrete path wins
  over a template in OpenAPI), so it is not generated for the template,
  whose methods differ;
- `POST /v1/tokens/{id}/revoke` is not sent for the token the run
  authenticates with (LOCKSTEP_TEST_CALLER_TOKEN_ID): revoking it is valid
  and the server does it, but every request after it would be a 401 and the
  rest of the run would check nothing. api_tokens.rs covers an admin
  revoking its own token.

Loaded by crates/lockstep/tests/api_contract.rs through SCHEMATHESIS_HOOKS.
"""

import os
from datetime import datetime, timedelta, timezone

import schemathesis

DEFAULT_GRACE_PERIOD_SECONDS = 300.0
DEFAULT_MAX_WAIT_SECONDS = 3600.0
DEFAULT_INITIAL_BACKOFF_SECONDS = 1.0
DEFAULT_MAX_BACKOFF_SECONDS = 300.0
MAX_TOKEN_LIFETIME = timedelta(days=365)
CLOCK_MARGIN = timedelta(minutes=1)


def _is_positive(case):
    meta = getattr(case, "meta", None)
    return meta is None or meta.generation.mode.is_positive


def _integration_breaks_a_rule(body):
    if not isinstance(body, dict):
        return False
    mapping = body.get("field_mapping")
    if isinstance(mapping, dict):
        targets = [t.lower() for t in mapping.values() if isinstance(t, str)]
        if len(targets) != len(set(targets)):
            return True
    grace = body.get("grace_period_seconds")
    grace = DEFAULT_GRACE_PERIOD_SECONDS if not isinstance(grace, (int, float)) else grace
    max_wait = body.get("max_wait_seconds")
    if isinstance(max_wait, (int, float)) and max_wait < grace:
        return True
    retry = body.get("retry")
    if isinstance(retry, dict):
        initial = retry.get("initial_backoff_seconds")
        initial = DEFAULT_INITIAL_BACKOFF_SECONDS if not isinstance(initial, (int, float)) else initial
        longest = retry.get("max_backoff_seconds")
        longest = DEFAULT_MAX_BACKOFF_SECONDS if not isinstance(longest, (int, float)) else longest
        if longest < initial:
            return True
    return False


def _caller(name):
    value = os.environ.get(f"LOCKSTEP_TEST_CALLER_{name}")
    return int(value) if value else None


def _as_int(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _token_breaks_a_rule(body):
    if not isinstance(body, dict):
        return False
    admin_id = body.get("admin_id")
    if admin_id is not None and _as_int(admin_id) != _caller("ADMIN_ID"):
        return True
    expires_at = body.get("expires_at")
    if isinstance(expires_at, str):
        try:
            at = datetime.fromisoformat(expires_at)
        except ValueError:
            # Valid RFC 3339 this parser cannot read (a leap second): no way
            # to tell whether it is within the year, so it is left out.
            return True
        if at.tzinfo is None:
            return True
        now = datetime.now(timezone.utc)
        return not (now + CLOCK_MARGIN < at < now + MAX_TOKEN_LIFETIME - CLOCK_MARGIN)
    return False


@schemathesis.hook
def filter_case(context, case):
    operation = context.operation
    if operation is None:
        return True
    method, path = operation.method.upper(), operation.path
    if path == "/v1/records/{type}/{id}" and (case.path_parameters or {}).get("id") == "batch":
        return False
    if (method, path) == ("POST", "/v1/tokens/{id}/revoke"):
        own = _caller("TOKEN_ID")
        if own is not None and _as_int((case.path_parameters or {}).get("id")) == own:
            return False
    if not _is_positive(case):
        return True
    if (method, path) == ("POST", "/v1/integrations"):
        return not _integration_breaks_a_rule(case.body)
    if method == "GET" and (case.query or {}).get("cursor"):
        return False
    if (method, path) == ("POST", "/v1/tokens"):
        return not _token_breaks_a_rule(case.body)
    if (method, path) == ("PATCH", "/v1/settings"):
        body = case.body if isinstance(case.body, dict) else {}
        wait = body.get("background_after_seconds")
        return not (isinstance(wait, (int, float)) and wait > 1)
    return True

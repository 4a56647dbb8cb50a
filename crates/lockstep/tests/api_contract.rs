//! The API keeps the contract its OpenAPI document states, checked by
//! schemathesis (PyPI, pinned in scripts/requirements-peers.txt) against a
//! real `lockstep serve` on each store.
//!
//! schemathesis reads `/openapi.json`, generates requests from its schemas
//! (valid ones and deliberately invalid ones) and runs every check it has
//! (`--checks all`): no 5xx, only documented statuses and content types,
//! responses that match their schemas, valid data accepted, invalid data
//! refused, `Allow` on 405, a 401 without the token, no access to a deleted
//! resource, and its stateful phase chains operations through the links it
//! infers (create an integration, then read, patch and delete it). The test
//! fails on any failure or error it reports.
//!
//! Three runs share one server, each with the credential its operations take:
//!
//! 1. every operation of a tenant's admin but `POST /v1/tokens/{id}/revoke`,
//!    with the admin's first token;
//! 2. `POST /v1/tenants`, with the operator's token;
//! 3. revocation, with a token made for this run alone, beside the two
//!    operations it chains with (make a token, revoke it, read it back).
//!
//! Revocation runs apart because a revoked credential fails every request
//! after it: a run that revoked the token it authenticates with would get
//! only 401s from then on and check nothing, and still pass. So run 1 can
//! revoke nothing, and run 3's hook never sends a revocation of run 3's own
//! token (it may well revoke the first token, whose run is over). Each run
//! must end with its token still signing in, and the test fails when
//! schemathesis warns that an operation answered only 401 or 403: a sign
//! that a run lost its credential, whatever the cause.
//!
//! `tests/contract/schemathesis.toml` names the outcomes that depend on the
//! server's state (412 for `If-Match`, 422 for a merge patch that would leave
//! an integration invalid); `tests/contract/schemathesis_hooks.py` keeps
//! schemathesis from generating "valid" bodies that break the rules JSON
//! Schema cannot state (two fields mapped to one target, a max wait shorter
//! than the grace period, a token's expiry more than a year ahead or for an
//! admin of another tenant, …). Both say why, rule by rule.
//!
//! The server allows outbound addresses of every range, because generated
//! integrations point at whatever address their schema permits and the
//! operator's outbound policy is not part of the API's schema. Its workers
//! are off, so it never connects to any of them.
//!
//! The run is bounded (a fixed number of examples per operation and a fixed
//! seed, so a failure reproduces); `LOCKSTEP_TEST_SCHEMATHESIS_EXAMPLES` and
//! `LOCKSTEP_TEST_SCHEMATHESIS_SEED` change them for a deeper local run.

mod support;

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use support::lockstep_bin::ServeProcess;
use support::{venv_bin, Backend};

/// Test cases per operation and phase: enough to find the classes of
/// problem the contract is about, within a minute on a shared 2-core machine.
const EXAMPLES: u32 = 15;
const SEED: u64 = 20_260_302;
/// The longest one schemathesis run may take before the test fails.
const RUN_DEADLINE: Duration = Duration::from_secs(150);

fn contract_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contract").join(name).display().to_string()
}

fn setting<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Who a run authenticates as, for the hooks' rules about the caller.
struct Caller<'a> {
    token: &'a str,
    admin_id: Option<i64>,
    token_id: Option<i64>,
}

/// Runs `schemathesis run` against `served` as `caller`; answers its output
/// and whether it passed.
async fn schemathesis(served: &ServeProcess, caller: &Caller<'_>, operations: &[&str]) -> (bool, String) {
    let workdir = tempfile::tempdir().expect("a temporary directory");
    let mut command = tokio::process::Command::new(venv_bin("schemathesis"));
    let known = |id: Option<i64>| id.map(|id| id.to_string()).unwrap_or_default();
    command
        .current_dir(workdir.path())
        .env("SCHEMATHESIS_HOOKS", contract_file("schemathesis_hooks.py"))
        .env("LOCKSTEP_TEST_CALLER_ADMIN_ID", known(caller.admin_id))
        .env("LOCKSTEP_TEST_CALLER_TOKEN_ID", known(caller.token_id))
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(contract_file("schemathesis.toml"))
        .arg("run")
        .arg(format!("{}/openapi.json", served.base_url))
        .args(["--checks", "all"])
        .args(["--header", &format!("Authorization: Bearer {}", caller.token)])
        .args(["--max-examples", &setting("LOCKSTEP_TEST_SCHEMATHESIS_EXAMPLES", EXAMPLES).to_string()])
        .args(["--seed", &setting("LOCKSTEP_TEST_SCHEMATHESIS_SEED", SEED).to_string()])
        .args(["--workers", "1"])
        .args(operations)
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let run = tokio::time::timeout(RUN_DEADLINE, command.output()).await;
    let output = run
        .unwrap_or_else(|_| panic!("schemathesis did not finish within {RUN_DEADLINE:?}"))
        .expect("schemathesis starts");
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

/// schemathesis's warning that an operation answered only 401 or 403.
const AUTHENTICATION_FAILED: &str = "Authentication failed";

fn assert_passed((passed, output): (bool, String), run: &str) {
    // The closing line reads "No issues found in …", or counts failures,
    // errors and warnings ("2 warnings in 41.1s"). Warnings do not fail,
    // but for the one that says a run lost its credential.
    let summary = output.lines().rev().find(|l| l.starts_with('=') && l.contains(" in ")).unwrap_or_default();
    let clean = !summary.is_empty() && !summary.contains("failure") && !summary.contains("error");
    assert!(passed && clean, "schemathesis found problems ({run}):\n{output}");
    assert!(!output.contains(AUTHENTICATION_FAILED), "an operation answered only 401 or 403 ({run}):\n{output}");
}

/// Asserts that `token` still signs in once its run is over.
async fn assert_still_signs_in(served: &ServeProcess, token: &str) {
    served.call(token, Method::GET, "/v1/me", None).await;
}

async fn the_api_keeps_its_openapi_contract(backend: Backend) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let database_url = backend.database_url(dir.path()).await;
    let served =
        ServeProcess::start(&database_url, "0.0.0.0/0,::/0", &[("LOCKSTEP_WORKER__ENABLED", "false")], &[]).await;
    let token = served.tenant_admin("acme").await;
    let admin_id = served.call(&token, Method::GET, "/v1/me", None).await["admin"]["id"].as_i64();
    // The workers are off: overviews and sync runs go to the background at
    // once rather than keep each request waiting a minute (the hooks keep
    // this at most 1 s).
    served.call(&token, Method::PATCH, "/v1/settings", Some(json!({"background_after_seconds": 0}))).await;

    let admin = Caller { token: &token, admin_id, token_id: None };
    let every_route = ["--exclude-operation-id", "create_tenant", "--exclude-operation-id", "revoke_token"];
    assert_passed(schemathesis(&served, &admin, &every_route).await, "every route with an admin's token");
    assert_still_signs_in(&served, &token).await;

    let operator = Caller { token: &served.operator_token, admin_id: None, token_id: None };
    let operator_route = schemathesis(&served, &operator, &["--include-operation-id", "create_tenant"]).await;
    assert_passed(operator_route, "POST /v1/tenants with the operator token");

    let made = served.call(&token, Method::POST, "/v1/tokens", Some(json!({"label": "contract: revocation"}))).await;
    let revoker = made["token"].as_str().expect("a new token's value").to_owned();
    let revoker_caller = Caller { token: &revoker, admin_id, token_id: made["id"].as_i64() };
    let revocation = [
        "--include-operation-id",
        "create_token",
        "--include-operation-id",
        "revoke_token",
        "--include-operation-id",
        "get_token",
    ];
    assert_passed(schemathesis(&served, &revoker_caller, &revocation).await, "revocation with a token of its own");
    assert_still_signs_in(&served, &revoker).await;
}
both_backends!(the_api_keeps_its_openapi_contract);

//! Credentials stay secret at rest: a connector's bearer token is stored
//! encrypted under the configured secret keys (or the key Lockstep keeps
//! beside its SQLite database), decrypted only to push, and still works
//! across restarts and key rotation. A real `scim2-server` checks the token
//! that arrives is the one the admin gave.

mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;

use lockstep::config::Config;
use lockstep::secrets::SecretKey;
use lockstep::App;
use reqwest::StatusCode;
use serde_json::{json, Value};
use support::app::{TenantAdmin, TestApp};
use support::postgres::psql_bin;
use support::{fresh_postgres_url, Backend, ScimServer};

fn directory(scim: &ScimServer) -> Value {
    json!({
        "name": "Directory",
        "connector": {"kind": "scim", "base_url": scim.base_url, "bearer_token": scim.token},
        "field_mapping": {"email": "userName", "first_name": "name.givenName"},
        "grace_period_seconds": 60
    })
}

/// Writes an employee, lets its grace period pass, runs the worker; answers
/// the integration's entry of the record's sync view.
async fn sync_employee(app: &TestApp, admin: &TenantAdmin, id: &str, first_name: &str, integration: i64) -> Value {
    app.put_employee(&admin.token, id, json!({"email": format!("{id}@acme.test"), "first_name": first_name})).await;
    app.advance(61.0);
    app.drain().await;
    let record = app.employee(&admin.token, id).await;
    record["sync"]["integrations"]
        .as_array()
        .and_then(|list| list.iter().find(|i| i["integration_id"] == json!(integration)))
        .cloned()
        .unwrap_or_else(|| panic!("no sync state for integration {integration}: {record}"))
}

/// The integration's spec as the store keeps it, read beside the app.
async fn stored_spec(database_url: &str, admin: &TenantAdmin, integration: i64) -> Value {
    let store = lockstep::store::open(database_url).await.expect("the store opens");
    let stored = store.get_integration(admin.tenant_id, integration).await.unwrap().expect("the integration");
    stored.spec
}

fn key(text: &str) -> SecretKey {
    SecretKey::parse(text).unwrap()
}

/// Every byte the database keeps: the SQLite file with its WAL and shared
/// memory, or a `pg_dump` of the PostgreSQL database.
async fn database_bytes(database_url: &str) -> Vec<u8> {
    match database_url.strip_prefix("sqlite://") {
        Some(path) => {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal", "-shm"] {
                let file = PathBuf::from(format!("{path}{suffix}"));
                if suffix != "-shm" {
                    assert!(file.exists(), "{} is missing: the test would look at nothing", file.display());
                }
                bytes.extend(std::fs::read(&file).unwrap_or_default());
            }
            bytes
        }
        None => {
            let pg_dump = Path::new(&psql_bin()).with_file_name("pg_dump");
            let output = tokio::process::Command::new(&pg_dump)
                .arg("--no-owner")
                .arg(format!("--dbname={database_url}"))
                .stdin(Stdio::null())
                .output()
                .await
                .unwrap_or_else(|e| panic!("spawn {}: {e}", pg_dump.display()));
            assert!(output.status.success(), "pg_dump failed: {}", String::from_utf8_lossy(&output.stderr));
            output.stdout
        }
    }
}

fn holds(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

async fn the_database_never_holds_a_token_in_clear(backend: Backend) {
    let scim = ScimServer::start().await;
    let app = TestApp::start(backend).await;
    let acme = app.tenant("acme").await;
    let id = app.integration(&acme.token, directory(&scim)).await;
    let entry = sync_employee(&app, &acme, "e-1", "Ada", id).await;
    assert_eq!(entry["status"], "synced", "the token decrypted and the third party took it: {entry}");
    assert_eq!(scim.users_with_external_id("e-1").await.len(), 1);
    // Rewritten through the API too: a patch stores the token again.
    let patched = app.patch(&format!("/v1/integrations/{id}"), &acme.token, json!({"grace_period_seconds": 30})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);

    let bytes = database_bytes(&app.database_url).await;
    assert!(holds(&bytes, &scim.base_url), "the dump holds the integration, so the search below means something");
    assert!(!holds(&bytes, &scim.token), "the bearer token is in the database in clear");
    let spec = stored_spec(&app.database_url, &acme, id).await;
    let sealed = spec["connector"]["bearer_token"]["encrypted"].as_str().unwrap_or_else(|| panic!("{spec}"));
    assert!(sealed.starts_with("v1."), "{sealed}");
}
both_backends!(the_database_never_holds_a_token_in_clear);

#[cfg(unix)]
#[tokio::test]
async fn on_sqlite_without_a_key_one_is_made_beside_the_database_for_the_owner_only_and_kept() {
    use std::os::unix::fs::PermissionsExt;
    let scim = ScimServer::start().await;
    let first = TestApp::start(Backend::Sqlite).await;
    let database = first.database_url.strip_prefix("sqlite://").unwrap().to_owned();
    let key_file = PathBuf::from(format!("{database}.key"));
    let mode = std::fs::metadata(&key_file).expect("the key file beside the database").permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
    let made = std::fs::read_to_string(&key_file).unwrap();
    SecretKey::parse(&made).expect("the file holds a key");
    let acme = first.tenant("acme").await;
    let id = first.integration(&acme.token, directory(&scim)).await;

    // A second start on the same database reads the key back: the token
    // sealed by the first still decrypts.
    let url = first.database_url.clone();
    let second = TestApp::start_with(Backend::Sqlite, move |c| c.database_url = url).await;
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), made, "the key file is never replaced");
    let entry = sync_employee(&second, &acme, "e-1", "Ada", id).await;
    assert_eq!(entry["status"], "synced", "{entry}");
}

async fn a_token_written_under_one_key_is_read_under_a_rotated_keyring_and_a_patch_reencrypts_it(backend: Backend) {
    const A: &str = "a2V5IEEgb2YgdGhlIHJvdGF0aW9uIHRlc3QsIDMyIGI=";
    const B: &str = "a2V5IEIgb2YgdGhlIHJvdGF0aW9uIHRlc3QsIDMyIGI=";
    let scim = ScimServer::start().await;
    let under_a = TestApp::start_with(backend, |c| c.secret_keys = vec![key(A)]).await;
    let acme = under_a.tenant("acme").await;
    let id = under_a.integration(&acme.token, directory(&scim)).await;
    let sealed_by = |spec: Value| spec["connector"]["bearer_token"]["encrypted"].as_str().unwrap()[3..11].to_owned();
    assert_eq!(sealed_by(stored_spec(&under_a.database_url, &acme, id).await), key(A).id().to_string());

    // The operator rotates: B first, A still there to decrypt.
    let url = under_a.database_url.clone();
    let rotated = TestApp::start_with(backend, move |c| {
        c.database_url = url;
        c.secret_keys = vec![key(B), key(A)];
    })
    .await;
    let entry = sync_employee(&rotated, &acme, "e-1", "Ada", id).await;
    assert_eq!(entry["status"], "synced", "a token sealed under A is read under \"B,A\": {entry}");
    assert_eq!(sealed_by(stored_spec(&rotated.database_url, &acme, id).await), key(A).id().to_string());

    let patched = rotated.patch(&format!("/v1/integrations/{id}"), &acme.token, json!({})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    assert_eq!(sealed_by(stored_spec(&rotated.database_url, &acme, id).await), key(B).id().to_string());

    // A retired: B alone reads it.
    let url = under_a.database_url.clone();
    let only_b = TestApp::start_with(backend, move |c| {
        c.database_url = url;
        c.secret_keys = vec![key(B)];
    })
    .await;
    let entry = sync_employee(&only_b, &acme, "e-2", "Grace", id).await;
    assert_eq!(entry["status"], "synced", "{entry}");
    assert_eq!(scim.users().await.len(), 2);
}
both_backends!(a_token_written_under_one_key_is_read_under_a_rotated_keyring_and_a_patch_reencrypts_it);

#[tokio::test]
async fn a_token_no_configured_key_decrypts_fails_its_syncs_saying_why_and_the_integration_is_still_listed() {
    let scim = ScimServer::start().await;
    let first = TestApp::start_with(Backend::Sqlite, |c| c.secret_keys = vec![SecretKey::generate()]).await;
    let acme = first.tenant("acme").await;
    let id = first.integration(&acme.token, directory(&scim)).await;
    let lost = stored_spec(&first.database_url, &acme, id).await["connector"]["bearer_token"]["encrypted"]
        .as_str()
        .unwrap()[3..11]
        .to_owned();

    // The key is gone from the configuration (the key file beside the
    // database was never made: a key was configured).
    let url = first.database_url.clone();
    let other = SecretKey::generate();
    let other_id = other.id().to_string();
    let without = TestApp::start_with(Backend::Sqlite, move |c| {
        c.database_url = url;
        c.secret_keys = vec![other];
    })
    .await;
    let entry = sync_employee(&without, &acme, "e-1", "Ada", id).await;
    assert_eq!(entry["status"], "sync_failed", "{entry}");
    let error = &entry["errors"][0];
    assert_eq!(error["code"], "secret_unreadable", "{entry}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(&lost) && message.contains(&other_id) && message.contains("secret_keys"), "{message}");
    assert!(scim.users().await.is_empty(), "nothing was sent");

    let listed = without.get("/v1/integrations", &acme.token).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text);
    assert_eq!(listed.body["data"][0]["id"], id);
    assert_eq!(without.get(&format!("/v1/integrations/{id}"), &acme.token).await.status, StatusCode::OK);

    // Renaming it keeps the unreadable token as it is; a new token mends it.
    let path = format!("/v1/integrations/{id}");
    assert_eq!(without.patch(&path, &acme.token, json!({"name": "Renamed"})).await.status, StatusCode::OK);
    let mended = without.patch(&path, &acme.token, json!({"connector": {"bearer_token": scim.token}})).await;
    assert_eq!(mended.status, StatusCode::OK, "{}", mended.text);
    let entry = sync_employee(&without, &acme, "e-1", "Ada Lovelace", id).await;
    assert_eq!(entry["status"], "synced", "{entry}");
}

#[tokio::test]
async fn a_token_an_older_installation_stored_in_clear_still_syncs_and_is_encrypted_when_next_written() {
    let scim = ScimServer::start().await;
    let app = TestApp::start(Backend::Sqlite).await;
    let acme = app.tenant("acme").await;
    let id = app.integration(&acme.token, directory(&scim)).await;
    // As an installation before encryption stored it: the token in clear.
    let store = lockstep::store::open(&app.database_url).await.unwrap();
    let stored = store.get_integration(acme.tenant_id, id).await.unwrap().unwrap();
    let mut spec = stored.spec.clone();
    spec["connector"]["bearer_token"] = json!(scim.token);
    let older = lockstep_store::NewIntegration { name: stored.name, record_type: stored.record_type, spec };
    store.update_integration(acme.tenant_id, id, older, support::app::t0()).await.unwrap().unwrap();

    let entry = sync_employee(&app, &acme, "e-1", "Ada", id).await;
    assert_eq!(entry["status"], "synced", "{entry}");
    let listed = app.get(&format!("/v1/integrations/{id}"), &acme.token).await;
    assert!(!listed.text.contains(&scim.token), "{}", listed.text);

    let patched = app.patch(&format!("/v1/integrations/{id}"), &acme.token, json!({})).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.text);
    let spec = stored_spec(&app.database_url, &acme, id).await;
    assert!(spec["connector"]["bearer_token"]["encrypted"].is_string(), "{spec}");
    let entry = sync_employee(&app, &acme, "e-2", "Grace", id).await;
    assert_eq!(entry["status"], "synced", "{entry}");
}

#[tokio::test]
async fn postgres_without_a_secret_key_refuses_to_start_and_says_how_to_make_one() {
    let mut config = Config::defaults();
    config.database_url = fresh_postgres_url().await;
    let error = match App::build(config).await {
        Ok(_) => panic!("the app started on PostgreSQL without a secret key"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("secret_keys") && error.contains("lockstep secret-key"), "{error}");
    assert!(error.contains("LOCKSTEP_SECRET_KEYS"), "{error}");
}

#[tokio::test]
async fn lockstep_secret_key_prints_a_key_the_configuration_accepts_and_a_bad_key_stops_serve() {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_lockstep")).arg("secret-key").output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let printed = String::from_utf8(output.stdout).unwrap();
    assert_eq!(printed.lines().count(), 1, "the key alone on stdout: {printed:?}");
    let made = SecretKey::parse(&printed).expect("a key");
    assert!(String::from_utf8_lossy(&output.stderr).contains(&made.id().to_string()));

    // The printed key configures a store; a bad one among the keys stops `serve` at once.
    let dir = tempfile::tempdir().unwrap();
    let run = |command: &str, keys: &str| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_lockstep"))
            .arg(command)
            .env("LOCKSTEP_DATABASE_URL", format!("sqlite://{}/l.db", dir.path().display()))
            .env("LOCKSTEP_LISTEN", "127.0.0.1:0")
            .env("LOCKSTEP_SECRET_KEYS", keys)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output()
    };
    let good = run("migrate", printed.trim()).await.unwrap();
    assert!(good.status.success(), "{}", String::from_utf8_lossy(&good.stderr));
    let bad = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        run("serve", &format!("{},bm90IGEga2V5", printed.trim())),
    )
    .await
    .expect("serve stops at once on a bad key")
    .unwrap();
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("secret key 2") && stderr.contains("lockstep secret-key"), "{stderr}");
    assert!(!stderr.contains(printed.trim()), "the configured key is never echoed: {stderr}");
}

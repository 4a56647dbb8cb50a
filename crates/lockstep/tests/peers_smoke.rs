//! Smoke tests of the test-side peer harness (`tests/support`): a real scim2-server comes
//! up, stores a user and finds it by externalId; a fresh PostgreSQL database answers; and
//! `both_backends!` yields a usable store URL on each backend.

mod support;

use serde_json::json;
use support::{fresh_postgres_url, psql, Backend, ScimServer};

#[tokio::test]
async fn scim_server_stores_and_finds_a_user() {
    let scim = ScimServer::start().await;
    assert!(scim.users().await.is_empty(), "a new server starts empty");

    let created = scim
        .http()
        .post(scim.url("/Users"))
        .header("Authorization", scim.authorization())
        .header("Content-Type", "application/scim+json")
        .json(&json!({
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "ada@example.com",
            "externalId": "ext-\"ada\"",
            "active": true,
        }))
        .send()
        .await
        .expect("POST /Users");
    assert_eq!(created.status(), 201, "POST /Users");

    let found = scim.users_with_external_id("ext-\"ada\"").await;
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["userName"], "ada@example.com");
    assert!(scim.users_with_external_id("nobody").await.is_empty());
    assert_eq!(scim.users().await.len(), 1);

    // Another token is refused: the server is ours alone.
    let refused =
        scim.http().get(scim.url("/Users")).header("Authorization", "Bearer wrong").send().await.expect("GET /Users");
    assert_eq!(refused.status(), 401);
}

#[tokio::test]
async fn two_scim_servers_are_independent() {
    let a = ScimServer::start().await;
    let b = ScimServer::start().await;
    assert_ne!(a.port, b.port);
    assert_ne!(a.token, b.token);
    let pid = a.pid();
    drop(a);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists(), "scim2-server {pid} still runs after drop");
    assert!(b.users().await.is_empty());
}

#[tokio::test]
async fn fresh_postgres_database_answers() {
    let first = fresh_postgres_url().await;
    let second = fresh_postgres_url().await;
    assert_ne!(first, second, "each call makes its own database");
    assert_eq!(psql(&first, "select 1").await, "1");
    let name = psql(&second, "select current_database()").await;
    assert!(name.starts_with("lockstep_test_"), "{name}");
    assert!(second.ends_with(&format!("/{name}")), "{second}");
}

async fn backend_gives_a_store_url(backend: Backend) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = backend.database_url(dir.path()).await;
    match backend {
        Backend::Sqlite => {
            assert_eq!(url, format!("sqlite://{}/lockstep.db", dir.path().display()))
        }
        Backend::Postgres => assert_eq!(psql(&url, "select 1").await, "1"),
    }
}
both_backends!(backend_gives_a_store_url);

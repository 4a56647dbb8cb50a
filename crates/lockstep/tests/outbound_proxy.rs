//! Pushes go straight to the third party, whatever proxy the environment
//! names: a proxy would resolve the third party's name itself, out of the
//! private-address guard's sight. A real `lockstep serve` process runs with
//! `HTTP_PROXY`, `HTTPS_PROXY` and `ALL_PROXY` (both spellings) pointing at
//! a listener that counts connections; the push reaches `scim2-server` and
//! the listener sees nobody.

mod support;

use std::time::Duration;

use reqwest::Method;
use serde_json::json;
use support::fault_peer::ConnectionCounter;
use support::lockstep_bin::ServeProcess;
use support::{Backend, ScimServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_ignore_the_proxies_the_environment_names() {
    let scim = ScimServer::start().await;
    let proxy = ConnectionCounter::start().await;
    let dir = tempfile::tempdir().unwrap();
    let database_url = Backend::Sqlite.database_url(dir.path()).await;
    let proxy_url = proxy.url();
    let proxies: Vec<(&str, &str)> =
        ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"]
            .into_iter()
            .map(|name| (name, proxy_url.as_str()))
            .collect();
    let mut serve = ServeProcess::start(&database_url, "127.0.0.0/8", &proxies, &["NO_PROXY", "no_proxy"]).await;

    let operator = serve.operator_token.clone();
    let tenant = serve
        .call(
            &operator,
            Method::POST,
            "/v1/tenants",
            Some(json!({"name": "acme", "admin": {"email": "a@acme.test", "name": "A"}})),
        )
        .await;
    let token = tenant["token"].as_str().unwrap().to_owned();
    let integration = json!({
        "name": "Directory",
        "connector": {"kind": "scim", "base_url": scim.base_url, "bearer_token": scim.token},
        "field_mapping": {"email": "userName"},
        "grace_period_seconds": 0.1
    });
    serve.call(&token, Method::POST, "/v1/integrations", Some(integration)).await;
    serve.call(&token, Method::PUT, "/v1/records/employee/e1", Some(json!({"email": "ada@acme.test"}))).await;

    // A real process on a real clock: poll its API until the push ended.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let status = loop {
        let record = serve.call(&token, Method::GET, "/v1/records/employee/e1", None).await;
        let status = record["sync"]["integrations"][0]["status"].clone();
        if status == json!("synced") || status == json!("sync_failed") {
            break record["sync"]["integrations"][0].clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no push within 20 s: {record}\n--- lockstep serve ---\n{}",
            serve.stderr()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status["status"], json!("synced"), "{status}");
    assert_eq!(scim.users_with_external_id("e1").await.len(), 1);
    assert_eq!(proxy.accepted(), 0, "the proxy saw no connection");
}

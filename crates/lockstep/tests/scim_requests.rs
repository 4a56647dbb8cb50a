//! One request per update, counted at the third party: against the built-in
//! sandbox (`lockstep sandbox`, whose `GET /_sandbox/stats` counts requests
//! by method) and against a real `scim2-server` (behind the counting fault
//! proxy). An update of a user whose id Lockstep knows is one PATCH that
//! leaves unmapped attributes alone; the user is looked up again only when
//! the third party no longer knows that id; a first push still looks up by
//! `externalId` before it creates.

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use support::app::TestApp;
use support::lockstep_bin::SandboxProcess;
use support::proxy::FaultProxy;
use support::{Backend, ScimServer};

const GRACE: f64 = 300.0;
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// A SCIM third party whose requests are counted.
enum Peer {
    Sandbox(SandboxProcess),
    Scim2Server { server: ScimServer, proxy: FaultProxy },
}

/// Requests a peer received, by method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Requests {
    get: i64,
    post: i64,
    put: i64,
    patch: i64,
    delete: i64,
}

impl std::ops::Sub for Requests {
    type Output = Requests;
    fn sub(self, before: Requests) -> Requests {
        Requests {
            get: self.get - before.get,
            post: self.post - before.post,
            put: self.put - before.put,
            patch: self.patch - before.patch,
            delete: self.delete - before.delete,
        }
    }
}

fn requests(get: i64, post: i64, patch: i64) -> Requests {
    Requests { get, post, patch, ..Requests::default() }
}

impl Peer {
    async fn sandbox() -> Peer {
        Peer::Sandbox(SandboxProcess::start().await)
    }

    async fn scim2_server() -> Peer {
        let server = ScimServer::start().await;
        let proxy = FaultProxy::start(&server.base_url).await;
        Peer::Scim2Server { server, proxy }
    }

    /// Where Lockstep sends its requests (through the counter).
    fn base_url(&self) -> String {
        match self {
            Peer::Sandbox(sandbox) => sandbox.base_url.clone(),
            Peer::Scim2Server { proxy, .. } => proxy.base_url.clone(),
        }
    }

    fn token(&self) -> &str {
        match self {
            Peer::Sandbox(sandbox) => &sandbox.token,
            Peer::Scim2Server { server, .. } => &server.token,
        }
    }

    async fn requests(&self) -> Requests {
        match self {
            Peer::Sandbox(sandbox) => {
                let by_method = sandbox.requests_by_method().await;
                let count = |m: &str| by_method[m].as_i64().unwrap_or(0);
                Requests {
                    get: count("GET"),
                    post: count("POST"),
                    put: count("PUT"),
                    patch: count("PATCH"),
                    delete: count("DELETE"),
                }
            }
            Peer::Scim2Server { proxy, .. } => {
                let count = |m: &str| proxy.count(m) as i64;
                Requests {
                    get: count("GET"),
                    post: count("POST"),
                    put: count("PUT"),
                    patch: count("PATCH"),
                    delete: count("DELETE"),
                }
            }
        }
    }

    /// Whether a PATCH through a filter that matches nothing creates the
    /// element (the sandbox) or fails with `noTarget` as RFC 7644 says
    /// (scim2-server).
    fn creates_unmatched_elements(&self) -> bool {
        matches!(self, Peer::Sandbox(_))
    }

    /// A request straight to the third party (past the proxy's counter;
    /// the sandbox counts it, so tests send these outside a counted span).
    async fn direct(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        match self {
            Peer::Sandbox(sandbox) => sandbox.send(method, path, body).await,
            Peer::Scim2Server { server, .. } => {
                let mut request = server.http().request(method, server.url(path)).bearer_auth(&server.token);
                if let Some(body) = body {
                    request = request.header("content-type", "application/scim+json").body(body.to_string());
                }
                let response = request.send().await.expect("scim2-server answers");
                let status = response.status();
                (status, response.json().await.unwrap_or(Value::Null))
            }
        }
    }

    /// The one user whose `externalId` is `id`.
    async fn user(&self, id: &str) -> Value {
        let users = match self {
            Peer::Sandbox(sandbox) => sandbox.users_with_external_id(id).await,
            Peer::Scim2Server { server, .. } => server.users_with_external_id(id).await,
        };
        assert_eq!(users.len(), 1, "exactly one user for {id}: {users:?}");
        users[0].clone()
    }
}

struct Setup {
    app: TestApp,
    peer: Peer,
    token: String,
}

impl Setup {
    async fn new(peer: Peer) -> Setup {
        let app = TestApp::start(Backend::Sqlite).await;
        let token = app.tenant("acme").await.token;
        let spec = json!({
            "name": "Directory",
            "connector": {"kind": "scim", "base_url": peer.base_url(), "bearer_token": peer.token()},
            "field_mapping": {
                "email": "userName",
                "first_name": "name.givenName",
                "work_email": "emails[type eq \"work\"].value",
                "department": format!("{ENTERPRISE}:department"),
            },
            "grace_period_seconds": GRACE,
        });
        app.integration(&token, spec).await;
        Setup { app, peer, token }
    }

    /// Writes `fields`, lets the grace period pass, pushes, and answers the
    /// requests the third party received for it.
    async fn push(&self, id: &str, fields: Value) -> Requests {
        let before = self.peer.requests().await;
        self.app.put_employee(&self.token, id, fields).await;
        self.app.advance(GRACE + 1.0);
        assert_eq!(self.app.drain().await, 1);
        let record = self.app.employee(&self.token, id).await;
        assert_eq!(record["sync"]["integrations"][0]["status"], json!("synced"), "{record}");
        self.peer.requests().await - before
    }
}

async fn an_update_is_one_request(peer: Peer) {
    let s = Setup::new(peer).await;
    let mut ada = json!({"email": "ada@acme.test", "first_name": "Ada", "department": "Engineering"});
    assert_eq!(s.push("e1", ada.clone()).await, requests(1, 1, 0), "a first push looks up by externalId, then creates");
    let id = s.peer.user("e1").await["id"].as_str().unwrap().to_owned();
    // Something Lockstep does not map, set by someone else.
    let nickname = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "nickName", "value": "Addie"}]});
    let (status, body) = s.peer.direct(Method::PATCH, &format!("/Users/{id}"), Some(nickname)).await;
    assert!(status.is_success(), "{status} {body}");

    ada["first_name"] = json!("Augusta");
    assert_eq!(s.push("e1", ada.clone()).await, requests(0, 0, 1), "an update is one PATCH");
    let user = s.peer.user("e1").await;
    assert_eq!(user["name"]["givenName"], json!("Augusta"));
    assert_eq!(user["nickName"], json!("Addie"), "an unmapped attribute is left alone");
    assert_eq!(user[ENTERPRISE]["department"], json!("Engineering"));

    // The first work email: an element the user does not have yet.
    ada["work_email"] = json!("ada@work.test");
    let expected = if s.peer.creates_unmatched_elements() {
        requests(0, 0, 1)
    } else {
        // noTarget, then the user is read and the element added.
        requests(1, 0, 2)
    };
    assert_eq!(s.push("e1", ada.clone()).await, expected);
    let user = s.peer.user("e1").await;
    let work: Vec<&Value> = user["emails"].as_array().unwrap().iter().filter(|e| e["type"] == json!("work")).collect();
    assert_eq!(work.len(), 1, "{user}");
    assert_eq!(work[0]["value"], json!("ada@work.test"));

    ada["work_email"] = json!("lovelace@work.test");
    ada["department"] = Value::Null;
    assert_eq!(s.push("e1", ada.clone()).await, requests(0, 0, 1), "an element that exists is changed in place");
    let user = s.peer.user("e1").await;
    assert_eq!(user["emails"].as_array().unwrap().len(), 1, "{user}");
    assert_eq!(user["emails"][0]["value"], json!("lovelace@work.test"));
    assert!(user.get(ENTERPRISE).and_then(|e| e.get("department")).is_none(), "a null removes: {user}");
    assert_eq!(user["nickName"], json!("Addie"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_one_request_to_the_sandbox() {
    an_update_is_one_request(Peer::sandbox().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_is_one_request_to_scim2_server() {
    an_update_is_one_request(Peer::scim2_server().await).await
}

async fn a_user_deleted_by_the_third_party_is_looked_up_then_created_once(peer: Peer) {
    let s = Setup::new(peer).await;
    let mut ada = json!({"email": "ada@acme.test", "first_name": "Ada"});
    s.push("e1", ada.clone()).await;
    let id = s.peer.user("e1").await["id"].as_str().unwrap().to_owned();
    let (status, body) = s.peer.direct(Method::DELETE, &format!("/Users/{id}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    ada["first_name"] = json!("Augusta");
    assert_eq!(
        s.push("e1", ada.clone()).await,
        requests(1, 1, 1),
        "a PATCH answered 404, a look-up by externalId, a create"
    );
    let user = s.peer.user("e1").await;
    assert_ne!(user["id"], json!(id));
    assert_eq!(user["name"]["givenName"], json!("Augusta"));

    ada["first_name"] = json!("Ada");
    assert_eq!(s.push("e1", ada).await, requests(0, 0, 1), "the new id is remembered");

    let (status, _) = s.app.call(&s.token, Method::DELETE, "/v1/records/employee/e1", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let before = s.peer.requests().await;
    s.app.advance(GRACE + 1.0);
    assert_eq!(s.app.drain().await, 1);
    assert_eq!(s.peer.requests().await - before, requests(0, 0, 1), "a deactivation is one PATCH too");
    assert_eq!(s.peer.user("e1").await["active"], json!(false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_by_the_sandbox_is_looked_up_then_created_once() {
    a_user_deleted_by_the_third_party_is_looked_up_then_created_once(Peer::sandbox().await).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_user_deleted_by_scim2_server_is_looked_up_then_created_once() {
    a_user_deleted_by_the_third_party_is_looked_up_then_created_once(Peer::scim2_server().await).await
}

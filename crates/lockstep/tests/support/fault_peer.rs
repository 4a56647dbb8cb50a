//! Misbehaving third parties, in process on 127.0.0.1, for the faults the
//! real peers cannot be made to show: a [`FaultPeer`] answers each request
//! as a test's function says (control characters in an error, an id with a
//! NUL, an endless body, a redirect), and a [`ConnectionCounter`] is a
//! listener that only counts who connects (a redirect's target, a proxy).
//! They stand beside the real peers, never instead of them: a test that
//! needs a working third party uses `scim2-server` or the sandbox.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use axum::Router;

/// What a [`FaultPeer`] answers to one request.
pub struct Reply {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: ReplyBody,
}

enum ReplyBody {
    Text(String),
    /// 64 KiB chunks for as long as the client reads.
    Endless,
}

impl Reply {
    /// `status` with a SCIM JSON body, given as its JSON text (so it may hold
    /// escapes such as `\u0000` exactly as a third party would send them).
    pub fn json(status: u16, body: &str) -> Self {
        let status = StatusCode::from_u16(status).expect("a valid status");
        let content_type = (axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/scim+json"));
        Reply { status, headers: vec![content_type], body: ReplyBody::Text(body.to_owned()) }
    }

    /// `status` with a body that never ends (streamed, no Content-Length).
    pub fn endless(status: u16) -> Self {
        let status = StatusCode::from_u16(status).expect("a valid status");
        Reply { status, headers: Vec::new(), body: ReplyBody::Endless }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers.push((HeaderName::from_static(name), HeaderValue::from_str(value).expect("a header value")));
        self
    }
}

type Answer = dyn Fn(&Method, &str) -> Reply + Send + Sync;

struct Inner {
    answer: Box<Answer>,
    requests: AtomicUsize,
}

/// A third party that answers every request with what `answer(method,
/// path and query)` returns; stops when dropped.
pub struct FaultPeer {
    /// `http://127.0.0.1:PORT`
    pub base_url: String,
    inner: Arc<Inner>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FaultPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FaultPeer {
    pub async fn start(answer: impl Fn(&Method, &str) -> Reply + Send + Sync + 'static) -> Self {
        let inner = Arc::new(Inner { answer: Box::new(answer), requests: AtomicUsize::new(0) });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a fault peer on 127.0.0.1");
        let base_url = format!("http://{}", listener.local_addr().expect("the fault peer's address"));
        let app = Router::new().fallback(reply).with_state(inner.clone());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base_url, inner, task }
    }

    /// Requests received so far.
    pub fn requests(&self) -> usize {
        self.inner.requests.load(Ordering::SeqCst)
    }
}

async fn reply(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    inner.requests.fetch_add(1, Ordering::SeqCst);
    let target = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    let Reply { status, headers, body } = (inner.answer)(request.method(), &target);
    let body = match body {
        ReplyBody::Text(text) => Body::from(text),
        ReplyBody::Endless => {
            let chunk = Bytes::from(vec![b'x'; 64 * 1024]);
            Body::from_stream(futures::stream::repeat_with(move || Ok::<_, Infallible>(chunk.clone())))
        }
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    for (name, value) in headers {
        response.headers_mut().insert(name, value);
    }
    response
}

/// A listener on 127.0.0.1 that accepts connections, counts them and
/// closes them unanswered; stops when dropped.
pub struct ConnectionCounter {
    /// `127.0.0.1:PORT`
    pub addr: std::net::SocketAddr,
    accepted: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConnectionCounter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ConnectionCounter {
    pub async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a listener on 127.0.0.1");
        let addr = listener.local_addr().expect("the listener's address");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        Self { addr, accepted, task }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

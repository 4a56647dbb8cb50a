//! Turning what a SCIM service provider answered into a [`ConnectorError`]:
//! which failures are worth a retry (connection errors, timeouts, 429 with
//! its `Retry-After`, 5xx) and which are the third party's final word (4xx,
//! with its `scimType` and `detail` kept for the admin).
//!
//! Three answers get a message of their own, because the admin has to act
//! on them rather than wait:
//! - a redirect: redirects are never followed (one could lead past the
//!   private-address guard), so the integration must name the address the
//!   third party redirects to; refused, with the `Location` it gave;
//! - an answer larger than [`MAX_RESPONSE_BYTES`]: nothing past the cap is
//!   read, so there is no detail to show. It counts as what its status
//!   says: after a 5xx or 429 the third party is down or busy and a retry
//!   may well get a normal answer; after a success or a 4xx the base URL
//!   most likely points at something that is not a SCIM service, which no
//!   retry mends, so the sync fails at once with a message that says so;
//! - an address the guard refused: the configuration is wrong, refused.
//!
//! Every text here ends up in the store through
//! [`ConnectorError::transient`] and [`ConnectorError::rejected`], which
//! clean it.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::StatusCode;
use serde_json::Value;

use crate::connectors::outbound::{GuardError, MAX_RESPONSE_BYTES};
use crate::connectors::ConnectorError;

/// A request that did not get an HTTP answer.
pub fn from_transport(error: &reqwest::Error) -> ConnectorError {
    let code = if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect"
    } else {
        "transport"
    };
    // reqwest's Display hides the cause ("error sending request"); the
    // chain says what actually happened.
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        // The resolver refused every address the name resolved to.
        if let Some(refused) = cause.downcast_ref::<GuardError>() {
            return from_guard(refused);
        }
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    ConnectorError::transient(code, &message, None)
}

/// An address the guard refused: a configuration problem, not a passing one.
pub fn from_guard(error: &GuardError) -> ConnectorError {
    ConnectorError::rejected("address_not_allowed", &error.to_string())
}

/// An answer that is not a success, with its body.
pub fn from_answer(status: StatusCode, headers: &HeaderMap, body: &str) -> ConnectorError {
    if status.is_redirection() {
        let location = headers.get(reqwest::header::LOCATION).map(|v| String::from_utf8_lossy(v.as_bytes()));
        let message = format!(
            "{} the third party redirects to {}; Lockstep does not follow redirects: set the integration's base URL to the address it redirects to",
            status_line(status),
            location.as_deref().unwrap_or("another address"),
        );
        return ConnectorError::rejected("redirect", &message);
    }
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let text = |key: &str| parsed.as_ref().and_then(|v| v.get(key)).and_then(Value::as_str);
    let detail = match text("detail") {
        Some(detail) => detail.to_owned(),
        None if body.trim().is_empty() => status.canonical_reason().unwrap_or("no details").to_owned(),
        None => body.to_owned(),
    };
    let code = text("scimType").map(str::to_owned).unwrap_or_else(|| status.as_u16().to_string());
    let message = format!("{} {detail}", status.as_u16());
    if is_transient(status) {
        ConnectorError::transient(&code, &message, retry_after(headers))
    } else {
        ConnectorError::rejected(&code, &message)
    }
}

/// An answer whose body is larger than [`MAX_RESPONSE_BYTES`] (see the
/// module's doc for why its status decides).
pub fn too_large(status: StatusCode, headers: &HeaderMap) -> ConnectorError {
    let message = format!(
        "the third party answered {} with more than {} MiB, the most Lockstep reads of an answer",
        status_line(status),
        MAX_RESPONSE_BYTES / (1024 * 1024),
    );
    if is_transient(status) {
        return ConnectorError::transient(&status.as_u16().to_string(), &message, retry_after(headers));
    }
    let hint = if status.is_success() { "; check that the integration's base URL is a SCIM service" } else { "" };
    ConnectorError::rejected("response_too_large", &format!("{message}{hint}"))
}

/// A success whose body is not the JSON a SCIM service answers.
pub fn malformed(status: StatusCode) -> ConnectorError {
    let message = format!("the third party answered {} with malformed JSON", status_line(status));
    ConnectorError::transient("invalid_response", &message, None)
}

/// Statuses after which the same request may well succeed later.
fn is_transient(status: StatusCode) -> bool {
    status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        // A user that vanished between a look-up and a write: the next
        // attempt looks it up again.
        || status == StatusCode::NOT_FOUND
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

fn status_line(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn rejected(error: ConnectorError) -> lockstep_store::SyncError {
        match error {
            ConnectorError::Rejected { mut errors } => errors.remove(0),
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn scim_errors_keep_type_and_detail() {
        let e = from_answer(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidValue","detail":"title is not allowed"}"#,
        );
        let error = rejected(e);
        assert_eq!(error.code, "invalidValue");
        assert_eq!(error.message, "400 title is not allowed");
    }

    #[test]
    fn control_characters_in_an_error_never_reach_the_store() {
        let e = from_answer(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            r#"{"scimType":"invalid\u0000Value","detail":"bad\u0000value\r\nsecond line"}"#,
        );
        let error = rejected(e);
        assert_eq!(error.code, "invalid Value");
        assert_eq!(error.message, "400 bad value second line");
        let e =
            from_answer(StatusCode::BAD_REQUEST, &HeaderMap::new(), &format!("<html>\0{}</html>", "x".repeat(100_000)));
        assert!(rejected(e).message.len() <= crate::connectors::third_party_text::MESSAGE_CAP);
    }

    #[test]
    fn throttling_and_outages_are_transient_and_honour_retry_after() {
        match from_answer(StatusCode::TOO_MANY_REQUESTS, &headers(&[("retry-after", "7")]), "") {
            ConnectorError::Transient { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_answer(StatusCode::SERVICE_UNAVAILABLE, &HeaderMap::new(), "down"),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(
            from_answer(StatusCode::UNAUTHORIZED, &HeaderMap::new(), ""),
            ConnectorError::Rejected { .. }
        ));
    }

    #[test]
    fn a_redirect_is_refused_with_where_it_leads() {
        let error = rejected(from_answer(
            StatusCode::TEMPORARY_REDIRECT,
            &headers(&[("location", "http://10.0.0.1/Users")]),
            "",
        ));
        assert_eq!(error.code, "redirect");
        assert!(error.message.starts_with("307 Temporary Redirect"), "{}", error.message);
        assert!(error.message.contains("http://10.0.0.1/Users"), "{}", error.message);
        assert!(error.message.contains("does not follow redirects"), "{}", error.message);
    }

    #[test]
    fn an_answer_over_the_cap_fails_unless_its_status_says_to_retry() {
        let error = rejected(too_large(StatusCode::OK, &HeaderMap::new()));
        assert_eq!(error.code, "response_too_large");
        assert!(error.message.contains("200 OK with more than 1 MiB"), "{}", error.message);
        assert_eq!(rejected(too_large(StatusCode::BAD_REQUEST, &HeaderMap::new())).code, "response_too_large");
        match too_large(StatusCode::SERVICE_UNAVAILABLE, &headers(&[("retry-after", "30")])) {
            ConnectorError::Transient { error, retry_after } => {
                assert_eq!(error.code, "503");
                assert_eq!(retry_after, Some(Duration::from_secs(30)));
            }
            other => panic!("{other:?}"),
        }
    }
}

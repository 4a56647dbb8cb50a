//! Turning what a SCIM service provider answered into a [`ConnectorError`]:
//! which failures are worth a retry (connection errors, timeouts, 429 with
//! its `Retry-After`, 5xx) and which are the third party's final word (4xx,
//! with its `scimType` and `detail` kept for the admin).

use std::time::Duration;

use lockstep_store::SyncError;
use reqwest::StatusCode;
use serde_json::Value;

use crate::connectors::outbound::GuardError;
use crate::connectors::ConnectorError;

/// The longest third-party message kept on a sync state.
const MAX_DETAIL: usize = 500;

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
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    if message.contains("not in the outbound allow-list") {
        return ConnectorError::Rejected {
            errors: vec![SyncError { field: None, code: "address_not_allowed".into(), message: truncate(message) }],
        };
    }
    ConnectorError::Transient {
        error: SyncError { field: None, code: code.into(), message: truncate(message) },
        retry_after: None,
    }
}

/// A URL the guard refused: a configuration problem, not a passing one.
pub fn from_guard(error: GuardError) -> ConnectorError {
    ConnectorError::Rejected {
        errors: vec![SyncError { field: None, code: "address_not_allowed".into(), message: error.to_string() }],
    }
}

/// An HTTP answer that is not a success.
pub fn from_response(status: StatusCode, retry_after: Option<&str>, body: &str) -> ConnectorError {
    let parsed: Option<Value> = serde_json::from_str(body).ok();
    let scim_type = parsed.as_ref().and_then(|v| v.get("scimType")).and_then(Value::as_str).map(str::to_owned);
    let detail =
        parsed.as_ref().and_then(|v| v.get("detail")).and_then(Value::as_str).map(str::to_owned).unwrap_or_else(|| {
            let text = body.trim();
            if text.is_empty() {
                status.canonical_reason().unwrap_or("no details").to_owned()
            } else {
                text.to_owned()
            }
        });
    let error = SyncError {
        field: None,
        code: scim_type.unwrap_or_else(|| status.as_u16().to_string()),
        message: truncate(format!("{} {}", status.as_u16(), detail)),
    };
    if status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
        || status == StatusCode::REQUEST_TIMEOUT
        // The resource vanished between look-up and write: look it up again.
        || status == StatusCode::NOT_FOUND
    {
        let retry_after = retry_after.and_then(|v| v.trim().parse::<u64>().ok()).map(Duration::from_secs);
        ConnectorError::Transient { error, retry_after }
    } else {
        ConnectorError::Rejected { errors: vec![error] }
    }
}

fn truncate(mut text: String) -> String {
    if text.len() > MAX_DETAIL {
        let mut cut = MAX_DETAIL;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scim_errors_keep_type_and_detail() {
        let e = from_response(
            StatusCode::BAD_REQUEST,
            None,
            r#"{"schemas":["urn:ietf:params:scim:api:messages:2.0:Error"],"status":"400","scimType":"invalidValue","detail":"title is not allowed"}"#,
        );
        match e {
            ConnectorError::Rejected { errors } => {
                assert_eq!(errors[0].code, "invalidValue");
                assert_eq!(errors[0].message, "400 title is not allowed");
            }
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    #[test]
    fn throttling_and_outages_are_transient_and_honour_retry_after() {
        match from_response(StatusCode::TOO_MANY_REQUESTS, Some("7"), "") {
            ConnectorError::Transient { retry_after, .. } => assert_eq!(retry_after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            from_response(StatusCode::SERVICE_UNAVAILABLE, None, "down"),
            ConnectorError::Transient { .. }
        ));
        assert!(matches!(from_response(StatusCode::UNAUTHORIZED, None, ""), ConnectorError::Rejected { .. }));
    }
}

//! Admins' bearer tokens as a resource: listed, created with an optional
//! expiry, revoked.
//!
//! - `GET /v1/tokens` lists every token of the caller's tenant (one
//!   admin's with `?admin_id=`): a tenant's admins are peers, and the one
//!   who learns that a colleague's token leaked must be able to find and
//!   revoke it. A token is shown by its id, admin, label, times, status and
//!   first characters (`prefix`); never its value or its hash.
//! - `POST /v1/tokens` makes a token for the caller, or for another admin
//!   of the tenant (`admin_id`), with an optional label and expiry, and
//!   answers with its value: the only time it is ever shown.
//! - `POST /v1/tokens/{id}/revoke` revokes one. A revoked token stays
//!   listed, with `revoked_at`; revoking it again changes nothing.
//!
//! Revocation and expiry take effect at once in every process: the store
//! is asked about the token on every request (see [`bearer`]). Another
//! tenant's token or admin is a 404 (or, named in a body, a 422), exactly
//! as one that does not exist.

pub mod bearer;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use chrono::{DateTime, Duration, SubsecRound, Utc};
use lockstep_store::AdminToken;
use serde::{Deserialize, Serialize};
use utoipa::openapi::schema::{KnownFormat, Object, ObjectBuilder, SchemaFormat, SchemaType, Type};
use utoipa::ToSchema;

pub use bearer::{constant_time_eq, generate, hash, TokenStatus, TOKEN_PREFIX};

use super::extract::{AuthAdmin, OptionalJson, Path};
use super::input::{check_name, text_schema, MAX_NAME_CHARS, NAME_PATTERN};
use super::problem::{ApiError, FieldError, Problem};
use crate::domain::numbers::optional_whole;
use crate::http::AppState;

/// The longest a token may be made to live: a year.
pub const MAX_LIFETIME_SECONDS: i64 = 365 * 24 * 3600;

/// The two ways to give a token an expiry, of which a body gives at most one
/// (the OpenAPI document states it as a `not`, see `openapi.rs`).
pub const EXPIRY_FIELDS: [&str; 2] = ["expires_at", "expires_in_seconds"];

/// A token as the API shows it: never its value or its hash.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenView {
    pub id: i64,
    /// The admin the token signs in as.
    pub admin_id: i64,
    pub label: Option<String>,
    /// The token's first characters (`lst_` and six more), to tell it from
    /// others; `null` for tokens made before prefixes were kept.
    pub prefix: Option<String>,
    pub created_at: DateTime<Utc>,
    /// When the token stops working; `null`: not until revoked.
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    /// `active`, `expired` or `revoked`, as of this answer.
    pub status: TokenStatus,
}

impl TokenView {
    fn at(token: AdminToken, now: DateTime<Utc>) -> Self {
        let status = TokenStatus::at(&token, now);
        Self {
            id: token.id,
            admin_id: token.admin_id,
            label: token.label,
            prefix: token.prefix,
            created_at: token.created_at,
            expires_at: token.expires_at,
            revoked_at: token.revoked_at,
            status,
        }
    }
}

/// A tenant's tokens.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<TokenView>,
}

/// A token to make. Every field is optional, and `null` is the same as
/// leaving a field out; an empty body makes a token for the caller that does
/// not expire. `expires_at` and `expires_in_seconds`: at most one.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateToken {
    /// The admin of the caller's tenant the token signs in as (another
    /// tenant's admin is refused with 422, as one that does not exist);
    /// default: the caller.
    #[serde(default, deserialize_with = "optional_whole")]
    pub admin_id: Option<i64>,
    #[schema(schema_with = label_schema)]
    pub label: Option<String>,
    /// When the token stops working (RFC 3339): in the future, at most 365
    /// days ahead. Not with `expires_in_seconds`.
    pub expires_at: Option<DateTime<Utc>>,
    #[serde(default, deserialize_with = "optional_whole")]
    #[schema(schema_with = lifetime_schema)]
    pub expires_in_seconds: Option<i64>,
}

/// A token's label: the rules of a display name ([`check_name`]), or `null`.
fn label_schema() -> Object {
    text_schema(1, Some(MAX_NAME_CHARS), NAME_PATTERN)
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some("What the token is for: 1–200 characters, not only spaces, no control characters."))
        .build()
}

/// A token's lifetime in seconds: a whole number from 1 to [`MAX_LIFETIME_SECONDS`], or `null`.
fn lifetime_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .minimum(Some(1))
        .maximum(Some(MAX_LIFETIME_SECONDS))
        .description(Some("Or: how long the token works, 1 to 31,536,000 seconds (365 days). Not with `expires_at`."))
        .build()
}

/// A new token and its value.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenCreated {
    #[serde(flatten)]
    pub view: TokenView,
    /// The bearer token, shown this once.
    pub token: String,
}

impl CreateToken {
    /// The label and the expiry, checked against `now`; the errors name their field.
    fn validate(&self, now: DateTime<Utc>) -> Result<(Option<String>, Option<DateTime<Utc>>), ApiError> {
        let mut errors = Vec::new();
        if let Some(label) = &self.label {
            if let Err(message) = check_name(label) {
                errors.push(FieldError::new("label", message));
            }
        }
        let latest = now + Duration::seconds(MAX_LIFETIME_SECONDS);
        let expires_at = match (self.expires_at, self.expires_in_seconds) {
            (Some(_), Some(_)) => {
                errors.push(FieldError::new("expires_in_seconds", "give expires_at or expires_in_seconds, not both"));
                None
            }
            (None, Some(seconds)) if !(1..=MAX_LIFETIME_SECONDS).contains(&seconds) => {
                errors.push(FieldError::new(
                    "expires_in_seconds",
                    format!("must be between 1 and {MAX_LIFETIME_SECONDS} (365 days)"),
                ));
                None
            }
            (None, Some(seconds)) => Some(now + Duration::seconds(seconds)),
            // The store keeps milliseconds: judge the time it will keep.
            (Some(at), None) => match at.trunc_subsecs(3) {
                at if at <= now => {
                    errors.push(FieldError::new("expires_at", format!("must be in the future (it is now {now})")));
                    None
                }
                at if at > latest => {
                    errors.push(FieldError::new("expires_at", "must be at most 365 days ahead"));
                    None
                }
                at => Some(at),
            },
            (None, None) => None,
        };
        if errors.is_empty() {
            Ok((self.label.as_deref().map(|l| l.trim().to_owned()), expires_at))
        } else {
            Err(ApiError::invalid_fields(errors))
        }
    }
}

fn token_not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("no token {id} in this tenant"))
}

/// Reads `admin_id` from a query string; anything else is ignored.
fn admin_filter(query: &str) -> Result<Option<i64>, ApiError> {
    let mut admin_id = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        if key == "admin_id" {
            let id = value
                .parse::<i64>()
                .map_err(|_| ApiError::bad_parameter("admin_id", format!("must be an admin's id; got `{value}`")))?;
            admin_id = Some(id);
        }
    }
    Ok(admin_id)
}

/// Lists the tokens of the caller's tenant.
#[utoipa::path(get, path = "/v1/tokens", tag = "tokens", security(("bearer" = [])),
    params(("admin_id" = Option<i64>, Query, description = "Only this admin's tokens")),
    responses(
        (status = 200, description = "The tenant's tokens, revoked and expired ones included, oldest first",
            body = TokenList),
        (status = 400, description = "An admin_id that is not an integer, named in `errors`", body = Problem),
        (status = 401, description = "No or a bad bearer token", body = Problem),
    ))]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: AuthAdmin,
    RawQuery(query): RawQuery,
) -> Result<axum::Json<TokenList>, ApiError> {
    let admin_id = admin_filter(query.as_deref().unwrap_or_default())?;
    let tokens = state.engine.store().list_tokens(caller.tenant_id, admin_id).await?;
    let now = state.engine.clock().now();
    Ok(axum::Json(TokenList { data: tokens.into_iter().map(|t| TokenView::at(t, now)).collect() }))
}

/// Makes a token for an admin of the caller's tenant.
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    request_body(content = Option<CreateToken>,
        description = "Optional; empty makes a token for the caller that does not expire"),
    security(("bearer" = [])),
    responses(
        (status = 201, description = "The token and its value, shown this once", body = TokenCreated),
        (status = 401, description = "No or a bad bearer token", body = Problem),
        (status = 422, description = "An invalid label or expiry, or no such admin in the tenant", body = Problem),
    ))]
pub async fn create_token(
    State(state): State<AppState>,
    caller: AuthAdmin,
    OptionalJson(body): OptionalJson<CreateToken>,
) -> Result<(StatusCode, axum::Json<TokenCreated>), ApiError> {
    let body = body.unwrap_or_default();
    let now = state.engine.clock().now();
    let (label, expires_at) = body.validate(now)?;
    let admin_id = body.admin_id.unwrap_or(caller.admin_id);
    let token = generate();
    let created = state
        .engine
        .store()
        .create_token(caller.tenant_id, admin_id, bearer::stored(&token, label, expires_at), now)
        .await?
        .ok_or_else(|| ApiError::invalid_field("admin_id", format!("no admin {admin_id} in this tenant")))?;
    tracing::info!(
        tenant_id = caller.tenant_id,
        admin_id,
        token_id = created.id,
        by = caller.admin_id,
        "token created"
    );
    Ok((StatusCode::CREATED, axum::Json(TokenCreated { view: TokenView::at(created, now), token })))
}

/// One token of the caller's tenant.
#[utoipa::path(get, path = "/v1/tokens/{id}", tag = "tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The token", body = TokenView),
        (status = 401, description = "No or a bad bearer token", body = Problem),
        (status = 404, description = "No such token in the tenant", body = Problem),
    ))]
pub async fn get_token(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<TokenView>, ApiError> {
    let token = state.engine.store().get_token(caller.tenant_id, id).await?.ok_or_else(|| token_not_found(id))?;
    Ok(axum::Json(TokenView::at(token, state.engine.clock().now())))
}

/// Revokes a token: every process refuses it from its next request on.
#[utoipa::path(post, path = "/v1/tokens/{id}/revoke", tag = "tokens", security(("bearer" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        (status = 200, description = "The token, revoked (a token revoked before keeps its first revoked_at)",
            body = TokenView),
        (status = 401, description = "No or a bad bearer token", body = Problem),
        (status = 404, description = "No such token in the tenant", body = Problem),
    ))]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: AuthAdmin,
    Path(id): Path<i64>,
) -> Result<axum::Json<TokenView>, ApiError> {
    let now = state.engine.clock().now();
    let token =
        state.engine.store().revoke_token(caller.tenant_id, id, now).await?.ok_or_else(|| token_not_found(id))?;
    tracing::info!(tenant_id = caller.tenant_id, token_id = id, by = caller.admin_id, "token revoked");
    Ok(axum::Json(TokenView::at(token, now)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::extract::decode;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2030, 1, 1, 0, 0, 0).unwrap()
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::Invalid { errors, .. } => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("expected a 422, got {other:?}"),
        }
    }

    #[test]
    fn an_expiry_is_given_as_a_time_or_a_lifetime_in_the_future_within_a_year() {
        let within = |body: CreateToken| body.validate(now()).map(|(_, at)| at);
        assert_eq!(within(CreateToken::default()).unwrap(), None, "no expiry by default");
        let lifetime = CreateToken { expires_in_seconds: Some(3600), ..Default::default() };
        assert_eq!(within(lifetime).unwrap(), Some(now() + Duration::hours(1)));
        let at = CreateToken { expires_at: Some(now() + Duration::days(365)), ..Default::default() };
        assert_eq!(within(at).unwrap(), Some(now() + Duration::days(365)));

        for seconds in [0, -5, MAX_LIFETIME_SECONDS + 1] {
            let body = CreateToken { expires_in_seconds: Some(seconds), ..Default::default() };
            assert_eq!(fields(within(body).unwrap_err()), ["expires_in_seconds"], "{seconds}");
        }
        for at in [now(), now() - Duration::seconds(1), now() + Duration::days(366)] {
            let body = CreateToken { expires_at: Some(at), ..Default::default() };
            assert_eq!(fields(within(body).unwrap_err()), ["expires_at"], "{at}");
        }
        let both = CreateToken {
            expires_at: Some(now()),
            expires_in_seconds: Some(60),
            label: Some(" ".into()),
            ..Default::default()
        };
        assert_eq!(fields(within(both).unwrap_err()), ["label", "expires_in_seconds"]);
    }

    #[test]
    fn null_is_a_field_left_out_and_whole_numbers_may_be_written_as_floats() {
        let body: CreateToken =
            decode(br#"{"admin_id": 7.0, "label": null, "expires_at": null, "expires_in_seconds": 60.0}"#).unwrap();
        assert_eq!(body.admin_id, Some(7));
        assert_eq!(body.validate(now()).unwrap(), (None, Some(now() + Duration::seconds(60))));
        for (bad, field) in [
            (&br#"{"expires_in_seconds": 60.5}"#[..], "expires_in_seconds"),
            (br#"{"admin_id": "7"}"#, "admin_id"),
            (br#"[7, "CI"]"#, "body"),
        ] {
            assert_eq!(fields(decode::<CreateToken>(bad).unwrap_err()), [field], "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn the_admin_filter_is_an_id() {
        assert_eq!(admin_filter("").unwrap(), None);
        assert_eq!(admin_filter("admin_id=7&x=1").unwrap(), Some(7));
        assert!(admin_filter("admin_id=seven").is_err());
    }
}

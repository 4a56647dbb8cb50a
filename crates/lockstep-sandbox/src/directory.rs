//! The in-memory directory of Users: storage in creation order, server-assigned
//! ids, `meta` (created / lastModified / location / version), `userName`
//! uniqueness, and rendering a stored User as its SCIM representation.
//!
//! A stored User keeps only its attributes (canonical names, the extension
//! under its URN); `id`, `meta` and `schemas` are derived at render time, so
//! they can never disagree with the stored state. Every write renders the
//! candidate first and runs the reject rules on it: a rule sees exactly what
//! a read would return.

use std::collections::{BTreeMap, HashMap};

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::faults::{check_rejections, RejectRule};
use super::schema::{ENTERPRISE_SCHEMA, USER_SCHEMA};

/// One stored User.
#[derive(Debug, Clone)]
pub struct StoredUser {
    pub id: String,
    pub created: String,
    pub last_modified: String,
    /// Bumped on every write; the ETag is `W/"<version>"`.
    pub version: u64,
    pub attributes: Map<String, Value>,
}

impl StoredUser {
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.version)
    }
}

/// All Users of one sandbox.
#[derive(Debug)]
pub struct Directory {
    base_url: String,
    /// Keyed by creation sequence, so listings are in creation order.
    users: BTreeMap<u64, StoredUser>,
    by_id: HashMap<String, u64>,
    next_seq: u64,
}

impl Directory {
    pub fn new(base_url: String) -> Self {
        Directory { base_url, users: BTreeMap::new(), by_id: HashMap::new(), next_seq: 0 }
    }

    pub fn location(&self, id: &str) -> String {
        format!("{}/Users/{id}", self.base_url)
    }

    pub fn get(&self, id: &str) -> Option<&StoredUser> {
        self.by_id.get(id).and_then(|seq| self.users.get(seq))
    }

    /// Every User, in creation order.
    pub fn all(&self) -> impl Iterator<Item = &StoredUser> {
        self.users.values()
    }

    /// The full SCIM representation (everything but `returned: never`
    /// attributes, i.e. the password).
    pub fn render(&self, user: &StoredUser) -> Value {
        let mut schemas = vec![Value::from(USER_SCHEMA)];
        if user.attributes.contains_key(ENTERPRISE_SCHEMA) {
            schemas.push(Value::from(ENTERPRISE_SCHEMA));
        }
        let mut out = Map::new();
        out.insert("schemas".into(), Value::Array(schemas));
        out.insert("id".into(), Value::from(user.id.as_str()));
        for (key, value) in &user.attributes {
            if key != "password" {
                out.insert(key.clone(), value.clone());
            }
        }
        out.insert(
            "meta".into(),
            json!({
                "resourceType": "User",
                "created": user.created,
                "lastModified": user.last_modified,
                "location": self.location(&user.id),
                "version": user.etag(),
            }),
        );
        Value::Object(out)
    }

    /// Stores a new User; fails on a taken `userName` or a reject rule.
    pub fn create(&mut self, attributes: Map<String, Value>, rules: &[RejectRule]) -> Result<StoredUser, ScimError> {
        let now = now();
        let user = StoredUser { id: new_id(), created: now.clone(), last_modified: now, version: 1, attributes };
        self.check_write(&user, rules)?;
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(user.id.clone(), seq);
        self.users.insert(seq, user.clone());
        Ok(user)
    }

    /// Replaces the attributes of User `id` (PUT, or a PATCH's result).
    pub fn update(
        &mut self,
        id: &str,
        attributes: Map<String, Value>,
        rules: &[RejectRule],
    ) -> Result<StoredUser, ScimError> {
        let seq = *self.by_id.get(id).ok_or_else(|| user_not_found(id))?;
        let current = self.users.get(&seq).ok_or_else(|| user_not_found(id))?;
        let user = StoredUser { last_modified: now(), version: current.version + 1, attributes, ..current.clone() };
        self.check_write(&user, rules)?;
        self.users.insert(seq, user.clone());
        Ok(user)
    }

    /// Removes User `id`; `false` when there was none.
    pub fn delete(&mut self, id: &str) -> bool {
        match self.by_id.remove(id) {
            Some(seq) => self.users.remove(&seq).is_some(),
            None => false,
        }
    }

    fn check_write(&self, user: &StoredUser, rules: &[RejectRule]) -> Result<(), ScimError> {
        check_rejections(rules, &self.render(user))?;
        let user_name = user.attributes.get("userName").and_then(Value::as_str).unwrap_or_default();
        // userName is caseExact=false (RFC 7643 §4.1.1): "ADA" and "ada" collide.
        let taken = self.users.values().any(|other| {
            other.id != user.id
                && other
                    .attributes
                    .get("userName")
                    .and_then(Value::as_str)
                    .is_some_and(|n| n.to_lowercase() == user_name.to_lowercase())
        });
        if taken {
            return Err(ScimError::new(
                StatusCode::CONFLICT,
                Some("uniqueness"),
                format!("userName \"{user_name}\" is already taken"),
            ));
        }
        Ok(())
    }
}

pub fn user_not_found(id: &str) -> ScimError {
    ScimError::not_found(format!("User \"{id}\" not found"))
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A random 128-bit id in hex: unguessable, so tests cannot lean on ids.
fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(value: Value) -> Map<String, Value> {
        value.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn created_users_get_id_meta_and_no_password_on_render() {
        let mut directory = Directory::new("http://127.0.0.1:1".into());
        let user =
            directory.create(attrs(json!({"userName": "ada", "password": "s3cret"})), &[]).expect("created").clone();
        let rendered = directory.render(&user);
        assert_eq!(rendered["meta"]["version"], "W/\"1\"");
        assert_eq!(rendered["meta"]["location"], format!("http://127.0.0.1:1/Users/{}", user.id));
        assert!(rendered.get("password").is_none());
        assert_eq!(rendered["schemas"], json!([USER_SCHEMA]));
    }

    #[test]
    fn user_names_are_unique_ignoring_case() {
        let mut directory = Directory::new(String::new());
        directory.create(attrs(json!({"userName": "ada"})), &[]).expect("first");
        let err = directory.create(attrs(json!({"userName": "ADA"})), &[]).expect_err("taken");
        assert_eq!((err.status, err.scim_type), (StatusCode::CONFLICT, Some("uniqueness")));
    }

    #[test]
    fn updates_bump_the_version_and_keep_the_id() {
        let mut directory = Directory::new(String::new());
        let id = directory.create(attrs(json!({"userName": "ada"})), &[]).expect("created").id.clone();
        let updated = directory.update(&id, attrs(json!({"userName": "ada2"})), &[]).expect("updated");
        assert_eq!((updated.id.as_str(), updated.version), (id.as_str(), 2));
        assert!(directory.delete(&id));
        assert!(!directory.delete(&id));
    }
}

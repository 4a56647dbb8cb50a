//! The in-memory directory of Users: storage in creation order, server-assigned
//! ids, `meta` (created / lastModified / location / version), `userName`
//! uniqueness, filtered reads through the indexes of [`super::index`], and
//! rendering a stored User as its SCIM representation.
//!
//! A stored User keeps only its attributes (canonical names, the extension
//! under its URN); `id`, `meta` and `schemas` are derived at render time, so
//! they can never disagree with the stored state. Every write renders the
//! candidate first and runs the reject rules on it: a rule sees exactly what
//! a read would return.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::faults::{check_rejections, RejectRule};
use super::filter::Filter;
use super::index::{Indexes, Keys, Seq};
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
    users: BTreeMap<Seq, StoredUser>,
    indexes: Indexes,
    next_seq: Seq,
    /// Where recent unfiltered pages ended: (position in creation order,
    /// the `Seq` of the User there), newest last. See [`Directory::page`].
    page_ends: Vec<(usize, Seq)>,
}

/// Page ends remembered: one per client paging through at the same time.
const PAGE_ENDS: usize = 8;

/// What a filtered read found.
#[derive(Debug)]
pub struct Selection {
    /// The matching Users, rendered, in creation order.
    pub users: Vec<Value>,
    /// How many Users the filter was evaluated on: the indexes' candidates,
    /// or every User when they could not narrow it.
    pub examined: usize,
}

impl Directory {
    pub fn new(base_url: String) -> Self {
        Directory { base_url, users: BTreeMap::new(), indexes: Indexes::default(), next_seq: 0, page_ends: Vec::new() }
    }

    pub fn location(&self, id: &str) -> String {
        format!("{}/Users/{id}", self.base_url)
    }

    pub fn get(&self, id: &str) -> Option<&StoredUser> {
        self.indexes.by_id(id).and_then(|seq| self.users.get(&seq))
    }

    /// The User with this `userName`, compared case-insensitively.
    pub fn by_user_name(&self, user_name: &str) -> Option<&StoredUser> {
        self.indexes.by_user_name(user_name).and_then(|seq| self.users.get(&seq))
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// Every User, in creation order.
    pub fn all(&self) -> impl Iterator<Item = &StoredUser> {
        self.users.values()
    }

    /// Up to `count` Users from position `offset` (0-based) in creation
    /// order, rendered: a page of the unfiltered listing.
    ///
    /// Positions are not keys (a delete shifts every later User), so a page
    /// would have to step over every User before it, and paging through a
    /// million Users 1,000 at a time would step over 500 million. So each
    /// page remembers where the next one starts, and a client asking for
    /// exactly that position (as every client paging through does) starts
    /// there directly. A create adds at the end and an update keeps its
    /// User's place, so neither moves a remembered position; a delete
    /// forgets them all.
    pub fn page(&mut self, offset: usize, count: usize) -> Vec<Value> {
        let known = self.page_ends.iter().position(|(position, _)| *position == offset);
        let mut users: Vec<(&Seq, &StoredUser)> = match known {
            Some(at) => {
                let (_, seq) = self.page_ends.remove(at);
                self.users.range(seq..).take(count.saturating_add(1)).collect()
            }
            None => self.users.iter().skip(offset).take(count.saturating_add(1)).collect(),
        };
        // One User past the page, if any: where the next page starts.
        let next = if users.len() > count { users.pop().map(|(seq, _)| *seq) } else { None };
        let page = users.into_iter().map(|(_, user)| self.render(user)).collect();
        if let Some(next) = next {
            if self.page_ends.len() == PAGE_ENDS {
                self.page_ends.remove(0);
            }
            self.page_ends.push((offset + count, next));
        }
        page
    }

    /// The Users `filter` matches, in creation order. Filters on `id`,
    /// `externalId` and `userName` equality examine only the Users the
    /// indexes name; any other filter examines every User.
    pub fn select(&self, filter: &Filter) -> Selection {
        let matching = |user: &&StoredUser| filter.matches(&self.render(user));
        let (users, examined): (Vec<&StoredUser>, usize) = match self.indexes.candidates(filter) {
            Some(seqs) => {
                let candidates: Vec<&StoredUser> = seqs.iter().filter_map(|seq| self.users.get(seq)).collect();
                let examined = candidates.len();
                (candidates.into_iter().filter(matching).collect(), examined)
            }
            None => (self.users.values().filter(matching).collect(), self.users.len()),
        };
        Selection { users: users.into_iter().map(|user| self.render(user)).collect(), examined }
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
        let seq = self.next_seq;
        self.check_write(seq, &user, rules)?;
        self.next_seq += 1;
        self.indexes.insert(seq, Keys::of(&user.id, &user.attributes));
        self.users.insert(seq, user.clone());
        Ok(user)
    }

    /// Stores many new Users at once, in order, or none: the first that
    /// fails (a taken `userName`) undoes the ones stored before it and is
    /// answered with its position. Reject rules do not apply: this is how a
    /// person or a benchmark fills the directory, not a client's write.
    pub fn create_all(&mut self, users: Vec<Map<String, Value>>) -> Result<usize, (usize, ScimError)> {
        let mut created = Vec::with_capacity(users.len());
        for (position, attributes) in users.into_iter().enumerate() {
            match self.create(attributes, &[]) {
                Ok(user) => created.push(user.id),
                Err(error) => {
                    for id in &created {
                        self.delete(id);
                    }
                    return Err((position, error));
                }
            }
        }
        Ok(created.len())
    }

    /// Replaces the attributes of User `id` (PUT, or a PATCH's result).
    pub fn update(
        &mut self,
        id: &str,
        attributes: Map<String, Value>,
        rules: &[RejectRule],
    ) -> Result<StoredUser, ScimError> {
        let seq = self.indexes.by_id(id).ok_or_else(|| user_not_found(id))?;
        let current = self.users.get(&seq).ok_or_else(|| user_not_found(id))?;
        let user = StoredUser { last_modified: now(), version: current.version + 1, attributes, ..current.clone() };
        self.check_write(seq, &user, rules)?;
        self.indexes.update(seq, Keys::of(&current.id, &current.attributes), Keys::of(&user.id, &user.attributes));
        self.users.insert(seq, user.clone());
        Ok(user)
    }

    /// Removes User `id`; `false` when there was none.
    pub fn delete(&mut self, id: &str) -> bool {
        let Some(seq) = self.indexes.by_id(id) else {
            return false;
        };
        match self.users.remove(&seq) {
            Some(user) => {
                self.page_ends.clear();
                self.indexes.remove(seq, Keys::of(&user.id, &user.attributes));
                true
            }
            None => false,
        }
    }

    /// Refuses a write that a reject rule matches or whose `userName`
    /// another User (not `seq`) holds.
    fn check_write(&self, seq: Seq, user: &StoredUser, rules: &[RejectRule]) -> Result<(), ScimError> {
        if !rules.is_empty() {
            check_rejections(rules, &self.render(user))?;
        }
        let Some(user_name) = user.attributes.get("userName").and_then(Value::as_str) else {
            return Ok(());
        };
        // userName is caseExact=false (RFC 7643 §4.1.1): "ADA" and "ada" collide.
        if self.indexes.by_user_name(user_name).is_some_and(|holder| holder != seq) {
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
#[path = "directory_tests.rs"]
mod tests;

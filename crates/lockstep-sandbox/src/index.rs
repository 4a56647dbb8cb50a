//! The directory's indexes: Users by `id`, by `externalId` and by `userName`,
//! and which filters they answer.
//!
//! A connector finds the user of a record with `externalId eq "…"` before
//! every push, and every write checks that its `userName` is free. Scanning
//! for those made each request cost as much as the directory is large (at
//! 20,000 users, a push took tens of milliseconds of the sandbox's CPU), so
//! the three identifiers are kept in hash maps beside the users.
//!
//! The indexes only narrow: [`Indexes::candidates`] names a superset of the
//! Users a filter can match, and the directory still evaluates the whole
//! filter on each of them. An indexed answer therefore cannot disagree with
//! the filter's own semantics; a filter the indexes do not cover (`co`,
//! `not`, `or` with an unindexed side, …) falls back to examining everyone.
//!
//! Keys follow the schema's `caseExact`: `id` and `externalId` as written,
//! `userName` lowercased (caseExact=false, RFC 7643 §4.1.1), with the same
//! `to_lowercase` the filter compares with. `userName` is unique under that
//! comparison, so its index holds one User per key; `externalId` is not
//! unique (a client may reuse one), so its index holds every User with it,
//! in creation order.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::filter::{Filter, Op};

/// A User's position in creation order, the directory's primary key.
pub type Seq = u64;

/// The identifiers a stored User is indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keys<'a> {
    pub id: &'a str,
    pub external_id: Option<&'a str>,
    pub user_name: Option<&'a str>,
}

impl<'a> Keys<'a> {
    /// The keys of the User with this `id` and these stored attributes.
    pub fn of(id: &'a str, attributes: &'a Map<String, Value>) -> Self {
        Keys {
            id,
            external_id: attributes.get("externalId").and_then(Value::as_str),
            user_name: attributes.get("userName").and_then(Value::as_str),
        }
    }
}

/// The `userName` index's key: equal for names a filter's `eq` finds equal.
pub fn user_name_key(user_name: &str) -> String {
    user_name.to_lowercase()
}

/// Users by their identifiers.
#[derive(Debug, Default)]
pub struct Indexes {
    by_id: HashMap<String, Seq>,
    /// Sorted, so candidates come out in creation order.
    by_external_id: HashMap<String, Vec<Seq>>,
    /// Keyed by [`user_name_key`].
    by_user_name: HashMap<String, Seq>,
}

impl Indexes {
    pub fn by_id(&self, id: &str) -> Option<Seq> {
        self.by_id.get(id).copied()
    }

    /// The User holding `user_name`, compared as the filter's `eq` does.
    pub fn by_user_name(&self, user_name: &str) -> Option<Seq> {
        self.by_user_name.get(&user_name_key(user_name)).copied()
    }

    pub fn insert(&mut self, seq: Seq, keys: Keys<'_>) {
        self.by_id.insert(keys.id.to_owned(), seq);
        if let Some(external_id) = keys.external_id {
            let seqs = self.by_external_id.entry(external_id.to_owned()).or_default();
            if let Err(at) = seqs.binary_search(&seq) {
                seqs.insert(at, seq);
            }
        }
        if let Some(user_name) = keys.user_name {
            self.by_user_name.insert(user_name_key(user_name), seq);
        }
    }

    pub fn remove(&mut self, seq: Seq, keys: Keys<'_>) {
        if self.by_id.get(keys.id) == Some(&seq) {
            self.by_id.remove(keys.id);
        }
        if let Some(external_id) = keys.external_id {
            if let Some(seqs) = self.by_external_id.get_mut(external_id) {
                seqs.retain(|s| *s != seq);
                if seqs.is_empty() {
                    self.by_external_id.remove(external_id);
                }
            }
        }
        if let Some(user_name) = keys.user_name {
            let key = user_name_key(user_name);
            if self.by_user_name.get(&key) == Some(&seq) {
                self.by_user_name.remove(&key);
            }
        }
    }

    /// Moves User `seq` from its old keys to its new ones.
    pub fn update(&mut self, seq: Seq, old: Keys<'_>, new: Keys<'_>) {
        if old != new {
            self.remove(seq, old);
            self.insert(seq, new);
        }
    }

    /// The Users `filter` can match, sorted and without repeats, when the
    /// indexes can tell; `None` when every User has to be examined.
    pub fn candidates(&self, filter: &Filter) -> Option<Vec<Seq>> {
        match filter {
            Filter::Compare(path, Op::Eq, Value::String(value)) if path.urn.is_none() && path.sub.is_none() => {
                let attr = path.attr.as_str();
                if attr.eq_ignore_ascii_case("id") {
                    Some(self.by_id(value).into_iter().collect())
                } else if attr.eq_ignore_ascii_case("externalId") {
                    Some(self.by_external_id.get(value).cloned().unwrap_or_default())
                } else if attr.eq_ignore_ascii_case("userName") {
                    Some(self.by_user_name(value).into_iter().collect())
                } else {
                    None
                }
            }
            // Either side narrows a conjunction; both together narrow it most.
            Filter::And(a, b) => match (self.candidates(a), self.candidates(b)) {
                (Some(a), Some(b)) => Some(a.into_iter().filter(|s| b.binary_search(s).is_ok()).collect()),
                (one, other) => one.or(other),
            },
            // A disjunction is narrowed only when both sides are.
            Filter::Or(a, b) => {
                let (mut a, b) = (self.candidates(a)?, self.candidates(b)?);
                a.extend(b);
                a.sort_unstable();
                a.dedup();
                Some(a)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(text: &str) -> Filter {
        Filter::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn indexes() -> Indexes {
        let mut indexes = Indexes::default();
        indexes.insert(0, Keys { id: "a", external_id: Some("E-1"), user_name: Some("Ada") });
        indexes.insert(1, Keys { id: "b", external_id: Some("E-2"), user_name: Some("bob") });
        indexes.insert(2, Keys { id: "c", external_id: Some("E-1"), user_name: Some("cy") });
        indexes
    }

    #[test]
    fn equality_on_an_identifier_names_its_users() {
        let indexes = indexes();
        assert_eq!(indexes.candidates(&filter(r#"id eq "b""#)), Some(vec![1]));
        assert_eq!(indexes.candidates(&filter(r#"ID eq "B""#)), Some(vec![]));
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "E-1""#)), Some(vec![0, 2]));
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "e-1""#)), Some(vec![]));
        assert_eq!(indexes.candidates(&filter(r#"USERNAME eq "ADA""#)), Some(vec![0]));
        let core = "urn:ietf:params:scim:schemas:core:2.0:User:userName";
        assert_eq!(indexes.candidates(&filter(&format!(r#"{core} eq "BOB""#))), Some(vec![1]));
    }

    #[test]
    fn and_narrows_by_either_side_or_needs_both() {
        let indexes = indexes();
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "E-1" and title pr"#)), Some(vec![0, 2]));
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "E-1" and userName eq "cy""#)), Some(vec![2]));
        assert_eq!(indexes.candidates(&filter(r#"userName eq "cy" or id eq "a""#)), Some(vec![0, 2]));
        assert_eq!(indexes.candidates(&filter(r#"userName eq "cy" or title pr"#)), None);
    }

    #[test]
    fn other_filters_are_not_indexed() {
        let indexes = indexes();
        for text in [
            r#"userName co "a""#,
            r#"userName ne "ada""#,
            r#"not (userName eq "ada")"#,
            "userName eq null",
            r#"emails[value eq "ada"]"#,
            r#"name.givenName eq "ada""#,
        ] {
            assert_eq!(indexes.candidates(&filter(text)), None, "{text}");
        }
    }

    #[test]
    fn removing_and_updating_move_the_keys() {
        let mut indexes = indexes();
        let old = Keys { id: "a", external_id: Some("E-1"), user_name: Some("Ada") };
        let new = Keys { id: "a", external_id: Some("E-9"), user_name: Some("Ada2") };
        indexes.update(0, old, new);
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "E-1""#)), Some(vec![2]));
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "E-9""#)), Some(vec![0]));
        assert_eq!((indexes.by_user_name("ada"), indexes.by_user_name("ADA2")), (None, Some(0)));
        indexes.remove(2, Keys { id: "c", external_id: Some("E-1"), user_name: Some("cy") });
        assert_eq!(indexes.candidates(&filter(r#"externalId eq "E-1""#)), Some(vec![]));
        assert_eq!((indexes.by_id("c"), indexes.by_user_name("cy")), (None, None));
        assert!(!indexes.by_external_id.contains_key("E-1"), "an empty entry is dropped");
    }
}

//! Cases for admins' bearer tokens: created with a label and an expiry,
//! listed without their hash, revoked once, found by hash whatever their
//! state (the app judges revocation and expiry by its clock), and never
//! reachable through another tenant.

use std::sync::Arc;

use super::support::*;
use crate::{NewToken, Store};

fn labelled(seed: &str, label: &str, expires_at: Option<crate::Timestamp>) -> NewToken {
    NewToken { label: Some(label.to_string()), expires_at, ..new_token(seed) }
}

pub async fn tokens_are_created_with_a_label_and_an_expiry_and_listed_oldest_first(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme.test"), at(1)).await.unwrap();
    let (globex, _) = tenant(&store, "globex").await;

    let ci = store
        .create_token(acme.id, ada.id, labelled("ci", "CI pipeline", Some(at(3600))), at(2))
        .await
        .unwrap()
        .expect("ada is acme's admin");
    assert_eq!((ci.tenant_id, ci.admin_id), (acme.id, ada.id));
    assert_eq!(ci.label.as_deref(), Some("CI pipeline"));
    assert_eq!(ci.prefix.as_deref(), Some(new_token("ci").prefix.as_str()));
    assert_eq!((ci.created_at, ci.expires_at, ci.revoked_at), (at(2), Some(at(3600)), None));
    let laptop = store.create_token(acme.id, grace.id, labelled("laptop", "laptop", None), at(3)).await.unwrap();
    let laptop = laptop.expect("grace is acme's admin");

    let all = store.list_tokens(acme.id, None).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|t| t.id).collect();
    assert_eq!(ids.len(), 4, "two first tokens, then ci and laptop: {all:?}");
    assert_eq!(&ids[2..], [ci.id, laptop.id], "oldest first");
    let of_grace = store.list_tokens(acme.id, Some(grace.id)).await.unwrap();
    assert_eq!(of_grace.iter().map(|t| t.admin_id).collect::<Vec<_>>(), [grace.id, grace.id]);
    assert_eq!(of_grace[1], laptop);
    assert_eq!(store.get_token(acme.id, ci.id).await.unwrap(), Some(ci.clone()));

    let found = store.token_by_hash(&token_hash("ci")).await.unwrap().expect("found by its hash");
    assert_eq!((found.token, found.admin), (ci, ada));
    assert_eq!(store.list_tokens(globex.id, None).await.unwrap().len(), 1, "only globex's own");
}

pub async fn a_revoked_token_keeps_its_first_revocation_time_and_is_still_found(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let token = store.create_token(acme.id, ada.id, new_token("ci"), at(1)).await.unwrap().unwrap();

    let revoked = store.revoke_token(acme.id, token.id, at(5)).await.unwrap().expect("acme's token");
    assert_eq!(revoked, crate::AdminToken { revoked_at: Some(at(5)), ..token.clone() });
    let again = store.revoke_token(acme.id, token.id, at(9)).await.unwrap().expect("still acme's token");
    assert_eq!(again.revoked_at, Some(at(5)), "revoking twice keeps the first time");

    // The store reports the token with its revocation; refusing it is the caller's rule.
    let found = store.token_by_hash(&token_hash("ci")).await.unwrap().expect("a revoked token is still found");
    assert_eq!(found.token.revoked_at, Some(at(5)));
    assert_eq!(store.list_tokens(acme.id, None).await.unwrap()[1], again, "listed with revoked_at");
    assert_eq!(store.revoke_token(acme.id, token.id + 1000, at(9)).await.unwrap(), None);
}

pub async fn another_tenants_tokens_and_admins_are_absent(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let token = store.create_token(acme.id, ada.id, new_token("ci"), at(1)).await.unwrap().unwrap();

    assert_eq!(store.create_token(globex.id, ada.id, new_token("stolen"), at(2)).await.unwrap(), None);
    assert_eq!(store.token_by_hash(&token_hash("stolen")).await.unwrap(), None, "nothing was stored");
    assert_eq!(store.get_token(globex.id, token.id).await.unwrap(), None);
    assert_eq!(store.revoke_token(globex.id, token.id, at(3)).await.unwrap(), None);
    assert!(store.list_tokens(globex.id, Some(ada.id)).await.unwrap().is_empty());
    let still = store.get_token(acme.id, token.id).await.unwrap().expect("acme's token");
    assert_eq!(still.revoked_at, None, "another tenant cannot revoke it");
}

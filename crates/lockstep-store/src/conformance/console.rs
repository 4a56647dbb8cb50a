//! Cases for the admin console's sign-in: a link is created for a tenant's
//! admin with that admin's token, followed once and in time (two browsers
//! racing get one session), its session found by the cookie's hash with
//! its token and admin whatever their state, and signed out once; another
//! tenant reaches none of it.

use std::sync::Arc;

use super::support::*;
use crate::{ConsoleSession, LinkRedemption, NewConsoleSession, Store, StoreError, Timestamp};

/// The link whose hash is [`token_hash`]`(seed)`, for `admin_id` with `token_id`.
fn link(seed: &str, admin_id: i64, token_id: i64, expires_at: Timestamp) -> NewConsoleSession {
    NewConsoleSession { admin_id, token_id, link_hash: token_hash(seed), link_expires_at: expires_at }
}

/// The id of an admin's first token.
async fn first_token(store: &Arc<dyn Store>, tenant_id: i64, admin_id: i64) -> i64 {
    store.list_tokens(tenant_id, Some(admin_id)).await.unwrap()[0].id
}

/// A tenant's admin and a link of theirs made at `at(1)`, good until `at(60)`.
async fn acme_link(store: &Arc<dyn Store>, seed: &str) -> ConsoleSession {
    let (acme, ada) = tenant(store, "acme").await;
    let token_id = first_token(store, acme.id, ada.id).await;
    store
        .create_console_session(acme.id, link(seed, ada.id, token_id, at(60)), at(1))
        .await
        .expect("create_console_session")
        .expect("ada's token, acme's admin")
}

/// Follows the link `seed` at `at(now)`, for a session `session` lasting until `at(3600)`.
async fn follow(store: &Arc<dyn Store>, seed: &str, session: &str, now: i64) -> LinkRedemption {
    store.redeem_console_link(&token_hash(seed), &token_hash(session), at(3600), at(now)).await.expect("redeem")
}

pub async fn a_link_signs_in_once_and_is_used_from_then_on(store: Arc<dyn Store>) {
    let created = acme_link(&store, "link").await;
    assert_eq!((created.created_at, created.link_expires_at), (at(1), at(60)));
    assert_eq!((created.signed_in_at, created.expires_at, created.ended_at), (None, None, None), "unused");

    let LinkRedemption::SignedIn(session) = follow(&store, "link", "cookie", 2).await else {
        panic!("an unused link in time signs in")
    };
    let expected = ConsoleSession { signed_in_at: Some(at(2)), expires_at: Some(at(3600)), ..created.clone() };
    assert_eq!(session, expected, "the same row, now used, with its session");

    assert_eq!(follow(&store, "link", "cookie-2", 3).await, LinkRedemption::Used);
    assert_eq!(follow(&store, "link", "cookie-3", 61).await, LinkRedemption::Used, "used, even once its time is up");
    assert_eq!(store.console_session_by_hash(&token_hash("cookie-2")).await.unwrap(), None, "no second session");
    let owner = store.console_session_by_hash(&token_hash("cookie")).await.unwrap().expect("the first session");
    assert_eq!(owner.session, expected, "the refused redemptions changed nothing");
}

pub async fn an_expired_link_signs_no_one_in(store: Arc<dyn Store>) {
    let created = acme_link(&store, "late").await;
    assert_eq!(follow(&store, "late", "cookie", 60).await, LinkRedemption::Expired, "a link ends at its time");
    assert_eq!(follow(&store, "late", "cookie", 61).await, LinkRedemption::Expired);
    assert_eq!(store.console_session_by_hash(&token_hash("cookie")).await.unwrap(), None, "no session");

    let on_time = store
        .create_console_session(created.tenant_id, link("on-time", created.admin_id, created.token_id, at(60)), at(1))
        .await
        .unwrap()
        .unwrap();
    let redemption = follow(&store, "on-time", "cookie", 59).await;
    assert!(matches!(&redemption, LinkRedemption::SignedIn(s) if s.id == on_time.id), "{redemption:?}");
}

pub async fn an_unknown_link_is_unknown(store: Arc<dyn Store>) {
    acme_link(&store, "link").await;
    assert_eq!(follow(&store, "no-such-link", "cookie", 2).await, LinkRedemption::Unknown);
    assert_eq!(store.console_session_by_hash(&token_hash("cookie")).await.unwrap(), None);
    // A session cookie is not a link, nor a link a session cookie.
    let LinkRedemption::SignedIn(_) = follow(&store, "link", "cookie", 2).await else { panic!("the link signs in") };
    assert_eq!(follow(&store, "cookie", "other", 3).await, LinkRedemption::Unknown);
    assert_eq!(store.console_session_by_hash(&token_hash("link")).await.unwrap(), None);
}

pub async fn two_browsers_following_one_link_get_one_session(store: Arc<dyn Store>) {
    acme_link(&store, "link").await;
    let browsers: Vec<_> = (0..8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { (i, follow(&store, "link", &format!("cookie-{i}"), 2).await) })
        })
        .collect();
    let mut signed_in = Vec::new();
    for browser in browsers {
        match browser.await.unwrap() {
            (i, LinkRedemption::SignedIn(_)) => signed_in.push(i),
            (_, LinkRedemption::Used) => {}
            (_, other) => panic!("a racing browser finds the link used, not {other:?}"),
        }
    }
    assert_eq!(signed_in.len(), 1, "exactly one browser signs in: {signed_in:?}");
    for i in 0..8 {
        let found = store.console_session_by_hash(&token_hash(&format!("cookie-{i}"))).await.unwrap();
        assert_eq!(found.is_some(), signed_in == [i], "only the winner's cookie has a session");
    }
}

pub async fn a_session_is_found_by_its_hash_with_its_token_and_admin_even_once_revoked(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let token = store.create_token(acme.id, ada.id, new_token("laptop"), at(1)).await.unwrap().unwrap();
    store.create_console_session(acme.id, link("link", ada.id, token.id, at(60)), at(2)).await.unwrap().unwrap();
    let LinkRedemption::SignedIn(session) = follow(&store, "link", "cookie", 3).await else { panic!("signs in") };

    let owner = store.console_session_by_hash(&token_hash("cookie")).await.unwrap().expect("found by its hash");
    assert_eq!((owner.session, owner.token, owner.admin), (session.clone(), token.clone(), ada.clone()));

    // Whether a revoked token's session may go on is the caller's to judge.
    let revoked = store.revoke_token(acme.id, token.id, at(4)).await.unwrap().unwrap();
    let owner = store.console_session_by_hash(&token_hash("cookie")).await.unwrap().expect("still found");
    assert_eq!(owner.token.revoked_at, Some(at(4)));
    assert_eq!((owner.session, owner.token), (session, revoked));
    assert_eq!(store.console_session_by_hash(&token_hash("nobody")).await.unwrap(), None);
}

pub async fn ending_a_session_keeps_its_first_end_and_another_tenant_cannot(store: Arc<dyn Store>) {
    let created = acme_link(&store, "link").await;
    let (globex, _) = tenant(&store, "globex").await;
    let LinkRedemption::SignedIn(_) = follow(&store, "link", "cookie", 2).await else { panic!("signs in") };
    let ended_at = |store: Arc<dyn Store>| async move {
        store.console_session_by_hash(&token_hash("cookie")).await.unwrap().unwrap().session.ended_at
    };

    assert!(!store.end_console_session(globex.id, created.id, at(4)).await.unwrap(), "another tenant's session");
    assert_eq!(ended_at(store.clone()).await, None, "untouched");
    assert!(store.end_console_session(created.tenant_id, created.id, at(5)).await.unwrap());
    assert_eq!(ended_at(store.clone()).await, Some(at(5)));
    assert!(store.end_console_session(created.tenant_id, created.id, at(9)).await.unwrap(), "still the tenant's");
    assert_eq!(ended_at(store.clone()).await, Some(at(5)), "ending again keeps the first end");
    assert!(!store.end_console_session(created.tenant_id, created.id + 1000, at(9)).await.unwrap());

    // A link ended before it is followed still signs in once, to a session
    // that has ended: the caller refuses it as it refuses any ended session.
    let unused = store
        .create_console_session(created.tenant_id, link("unused", created.admin_id, created.token_id, at(60)), at(6))
        .await
        .unwrap()
        .unwrap();
    assert!(store.end_console_session(created.tenant_id, unused.id, at(7)).await.unwrap());
    let LinkRedemption::SignedIn(late) = follow(&store, "unused", "late-cookie", 8).await else { panic!("signs in") };
    assert_eq!((late.signed_in_at, late.ended_at), (Some(at(8)), Some(at(7))));
}

pub async fn a_link_is_made_only_for_the_tenants_admin_with_that_admins_token(store: Arc<dyn Store>) {
    let (acme, ada) = tenant(&store, "acme").await;
    let grace = store.create_admin(acme.id, new_admin("grace@acme"), at(0)).await.unwrap();
    let (globex, hal) = tenant(&store, "globex").await;
    let (adas, graces, hals) = (
        first_token(&store, acme.id, ada.id).await,
        first_token(&store, acme.id, grace.id).await,
        first_token(&store, globex.id, hal.id).await,
    );

    let refused = [
        ("another tenant's admin", acme.id, hal.id, hals),
        ("through another tenant", globex.id, ada.id, adas),
        ("another admin's token", acme.id, ada.id, graces),
        ("no such token", acme.id, ada.id, hals + 1000),
        ("no such admin", acme.id, ada.id + 1000, adas),
    ];
    for (why, tenant_id, admin_id, token_id) in refused {
        let created = store.create_console_session(tenant_id, link(why, admin_id, token_id, at(60)), at(1)).await;
        assert_eq!(created.unwrap(), None, "{why}");
        assert_eq!(follow(&store, why, "cookie", 2).await, LinkRedemption::Unknown, "{why}: nothing was stored");
    }

    // A revoked token still makes a link: the caller judges tokens, by its clock.
    store.revoke_token(acme.id, graces, at(1)).await.unwrap().unwrap();
    let graces_own = store.create_console_session(acme.id, link("grace", grace.id, graces, at(60)), at(1)).await;
    let graces_own = graces_own.unwrap().expect("grace's own token");
    assert_eq!((graces_own.tenant_id, graces_own.admin_id, graces_own.token_id), (acme.id, grace.id, graces));
    let taken = store.create_console_session(acme.id, link("grace", ada.id, adas, at(60)), at(1)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "a link hash names one link: {taken:?}");
}

pub async fn a_session_hash_names_one_session(store: Arc<dyn Store>) {
    let first = acme_link(&store, "first").await;
    let second = store
        .create_console_session(first.tenant_id, link("second", first.admin_id, first.token_id, at(60)), at(1))
        .await
        .unwrap()
        .unwrap();
    let LinkRedemption::SignedIn(_) = follow(&store, "first", "cookie", 2).await else { panic!("signs in") };

    let taken = store.redeem_console_link(&token_hash("second"), &token_hash("cookie"), at(3600), at(3)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");
    let redemption = follow(&store, "second", "another-cookie", 4).await;
    assert!(matches!(&redemption, LinkRedemption::SignedIn(s) if s.id == second.id), "still unused: {redemption:?}");
}

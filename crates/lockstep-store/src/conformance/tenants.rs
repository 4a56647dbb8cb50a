//! Cases for tenants, admins and integrations: the rows everything else hangs on.

use std::sync::Arc;

use serde_json::json;

use super::support::*;
use crate::{NewIntegration, Store, StoreError, SyncStatus};

pub async fn a_tenant_is_created_with_its_first_admin(store: Arc<dyn Store>) {
    let (tenant, admin) = store.create_tenant("Acme", new_admin("ada@acme.test"), at(1)).await.unwrap();
    assert_eq!(tenant.name, "Acme");
    assert_eq!(tenant.created_at, at(1));
    assert_eq!(admin.tenant_id, tenant.id);
    assert_eq!(admin.email, "ada@acme.test");
    assert_eq!(admin.name, "Admin ada@acme.test");
    assert_eq!(admin.created_at, at(1));

    assert_eq!(store.get_tenant(tenant.id).await.unwrap(), Some(tenant.clone()));
    assert_eq!(store.get_tenant(tenant.id + 1000).await.unwrap(), None);
    assert_eq!(store.list_admins(tenant.id).await.unwrap(), vec![admin.clone()]);

    let tokens = store.list_tokens(tenant.id, None).await.unwrap();
    assert_eq!(tokens.len(), 1, "the first admin has its first token");
    let first = &tokens[0];
    assert_eq!((first.tenant_id, first.admin_id), (tenant.id, admin.id));
    assert_eq!(first.prefix.as_deref(), Some(new_token("ada@acme.test").prefix.as_str()));
    assert_eq!(
        (first.label.as_deref(), first.created_at, first.expires_at, first.revoked_at),
        (None, at(1), None, None)
    );
}

pub async fn an_admin_is_found_by_the_hash_of_their_token(store: Arc<dyn Store>) {
    let (tenant, first) = tenant(&store, "acme").await;
    let second = store.create_admin(tenant.id, new_admin("grace@acme.test"), at(2)).await.unwrap();
    assert_eq!(second.tenant_id, tenant.id);

    let found = store.token_by_hash(&token_hash("admin@acme")).await.unwrap().expect("the first admin's token");
    assert_eq!(found.admin, first);
    assert_eq!((found.token.admin_id, found.token.tenant_id), (first.id, tenant.id));
    let found = store.token_by_hash(&token_hash("grace@acme.test")).await.unwrap().expect("the second's");
    assert_eq!(found.admin, second);
    assert_eq!(found.token.created_at, at(2));
    assert_eq!(store.token_by_hash(&token_hash("nobody")).await.unwrap(), None);
}

pub async fn an_admin_email_is_unique_within_a_tenant(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    store.create_admin(acme.id, new_admin("ada@example.test"), at(1)).await.unwrap();

    let mut same_email = new_admin("ada@example.test");
    same_email.token = new_token("another token");
    let duplicate = store.create_admin(acme.id, same_email.clone(), at(2)).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "duplicate email in a tenant must be a Conflict, got {duplicate:?}"
    );
    // The same email in another tenant is another person's account.
    store.create_admin(globex.id, same_email, at(2)).await.unwrap();
}

pub async fn a_token_hash_belongs_to_one_admin_only(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let mut reused = new_admin("eve@globex.test");
    reused.token = new_token("admin@acme");
    let duplicate = store.create_admin(globex.id, reused, at(1)).await;
    assert!(
        matches!(duplicate, Err(StoreError::Conflict(_))),
        "a token hash already in use must be a Conflict, got {duplicate:?}"
    );
    assert_eq!(store.list_admins(globex.id).await.unwrap().len(), 1, "the admin is not created without its token");
    assert_eq!(store.list_admins(acme.id).await.unwrap().len(), 1);

    let globex_admin = store.list_admins(globex.id).await.unwrap().remove(0);
    let duplicate = store.create_token(globex.id, globex_admin.id, new_token("admin@acme"), at(2)).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "got {duplicate:?}");
    assert_eq!(store.list_tokens(globex.id, None).await.unwrap().len(), 1);
}

pub async fn list_admins_lists_a_tenants_admins_oldest_first(store: Arc<dyn Store>) {
    let (acme, first) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let second = store.create_admin(acme.id, new_admin("b@acme.test"), at(5)).await.unwrap();
    let third = store.create_admin(acme.id, new_admin("a@acme.test"), at(6)).await.unwrap();
    store.create_admin(globex.id, new_admin("c@globex.test"), at(7)).await.unwrap();
    assert_eq!(store.list_admins(acme.id).await.unwrap(), vec![first, second, third]);
    assert_eq!(store.list_admins(globex.id + 1000).await.unwrap(), vec![]);
}

pub async fn integrations_are_created_read_listed_updated_and_deleted(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let created = store.create_integration(acme.id, new_integration("Okta"), at(1)).await.unwrap();
    assert_eq!(created.tenant_id, acme.id);
    assert_eq!(created.name, "Okta");
    assert_eq!(created.record_type, EMPLOYEE);
    assert_eq!(created.spec, new_integration("Okta").spec);
    assert_eq!((created.created_at, created.updated_at), (at(1), at(1)));
    let other = store.create_integration(acme.id, new_integration("BambooHR"), at(2)).await.unwrap();

    let got = store.get_integration(acme.id, created.id).await.unwrap();
    assert_eq!(got, Some(created.clone()));
    let listed = store.list_integrations(acme.id).await.unwrap();
    assert_eq!(listed, vec![created.clone(), other.clone()], "oldest first");

    let change = NewIntegration {
        name: "Okta EU".into(),
        record_type: "contractor".into(),
        spec: json!({ "connector": "scim", "grace_period_secs": 60 }),
    };
    let updated = store
        .update_integration(acme.id, created.id, change.clone(), at(3))
        .await
        .unwrap()
        .expect("the integration exists");
    assert_eq!(updated.id, created.id);
    assert_eq!(updated.name, change.name);
    assert_eq!(updated.record_type, change.record_type);
    assert_eq!(updated.spec, change.spec);
    assert_eq!((updated.created_at, updated.updated_at), (at(1), at(3)));
    let got = store.get_integration(acme.id, created.id).await.unwrap();
    assert_eq!(got, Some(updated));

    assert!(store.delete_integration(acme.id, created.id).await.unwrap());
    assert_eq!(store.get_integration(acme.id, created.id).await.unwrap(), None);
    assert!(!store.delete_integration(acme.id, created.id).await.unwrap());
    assert_eq!(store.list_integrations(acme.id).await.unwrap(), vec![other]);
    let missing = store.update_integration(acme.id, created.id, change, at(4)).await.unwrap();
    assert_eq!(missing, None);
}

pub async fn every_integration_change_moves_the_integrations_version(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let version = |tenant_id: i64| {
        let store = store.clone();
        async move { store.integrations_version(tenant_id).await.unwrap() }
    };
    let start = version(acme.id).await;

    let okta = store.create_integration(acme.id, new_integration("Okta"), at(1)).await.unwrap();
    let created = version(acme.id).await;
    assert!(created > start, "a create moves the version on");
    store.update_integration(acme.id, okta.id, new_integration("Okta EU"), at(2)).await.unwrap();
    let updated = version(acme.id).await;
    assert!(updated > created, "an update moves the version on");
    assert!(store.delete_integration(acme.id, okta.id).await.unwrap());
    let deleted = version(acme.id).await;
    assert!(deleted > updated, "a delete moves the version on");

    // What changes nothing moves nothing.
    assert!(!store.delete_integration(acme.id, okta.id).await.unwrap());
    assert_eq!(store.update_integration(acme.id, okta.id, new_integration("X"), at(3)).await.unwrap(), None);
    integration(&store, acme.id, "Workday").await;
    let taken = store.create_integration(acme.id, new_integration("Workday"), at(4)).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "got {taken:?}");
    assert_eq!(version(acme.id).await, deleted + 1, "only the one create since");
    assert_eq!(version(globex.id).await, 0, "another tenant's version stays");
}

pub async fn an_integration_name_is_unique_within_a_tenant(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;

    let duplicate = store.create_integration(acme.id, new_integration("Okta"), at(1)).await;
    assert!(matches!(duplicate, Err(StoreError::Conflict(_))), "got {duplicate:?}");
    let renamed = store.update_integration(acme.id, bamboo, new_integration("Okta"), at(1)).await;
    assert!(matches!(renamed, Err(StoreError::Conflict(_))), "got {renamed:?}");
    integration(&store, globex.id, "Okta").await;
}

pub async fn another_tenants_integration_is_absent(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let (globex, _) = tenant(&store, "globex").await;
    let okta = integration(&store, acme.id, "Okta").await;

    assert_eq!(store.get_integration(globex.id, okta).await.unwrap(), None);
    assert_eq!(store.list_integrations(globex.id).await.unwrap(), vec![]);
    let updated = store.update_integration(globex.id, okta, new_integration("Stolen"), at(1)).await.unwrap();
    assert_eq!(updated, None);
    assert!(!store.delete_integration(globex.id, okta).await.unwrap());
    let still = store.get_integration(acme.id, okta).await.unwrap().unwrap();
    assert_eq!(still.name, "Okta");
}

pub async fn deleting_an_integration_removes_its_sync_states(store: Arc<dyn Store>) {
    let (acme, _) = tenant(&store, "acme").await;
    let okta = integration(&store, acme.id, "Okta").await;
    let bamboo = integration(&store, acme.id, "BambooHR").await;
    let planner = TestPlanner::pending(&[okta, bamboo], at(1), at(100));
    let record = write_one(&store, acme.id, put("e1", json!({"n": 1})), &planner, at(1)).await;
    assert_eq!(states(&store, acme.id, record.id).await.len(), 2);

    assert!(store.delete_integration(acme.id, okta).await.unwrap());
    let left = states(&store, acme.id, record.id).await;
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].integration_id, bamboo);
    let counts = status_counts(&store).await;
    assert_eq!(counts, [(SyncStatus::Pending, 1)].into());
}

//! Keys and merchants over HTTP (issue 12): a merchant's key lifecycle (create → use → listed
//! with `last_used_at` → revoke → 401 at once), and the platform admin's merchants (admin key
//! required; disabling a merchant refuses its keys at once).

use poigate_api::{AdminCreateApiKeyRequest, CreateApiKeyRequest};
use poigate_testkit::TestServer;
use std::time::Duration;

fn status(e: &poigate_client::ClientError) -> Option<u16> {
    e.status().map(|s| s.as_u16())
}

#[tokio::test]
async fn a_key_is_created_used_listed_and_revoked_at_once() -> anyhow::Result<()> {
    let (ts, clock) = TestServer::start_with_manual_clock().await?;
    let owner = ts.client();

    let created = owner
        .create_api_key(&CreateApiKeyRequest {
            label: Some("till 2".into()),
        })
        .await?;
    let secret = created
        .secret
        .clone()
        .expect("the secret is shown on creation");
    assert!(
        secret.starts_with("pg_test_"),
        "a test key creates test keys"
    );
    assert!(!created.livemode);
    assert_eq!(created.last_used_at, None);
    assert!(secret.starts_with(&created.prefix));

    // Used: the list shows when, and never a secret.
    let new_key = ts.client().with_key(&secret);
    new_key.terminals().await?;
    let listed = owner.api_keys().await?;
    let row = listed
        .data
        .iter()
        .find(|k| k.id == created.id)
        .expect("listed");
    assert!(row.last_used_at.is_some(), "use is recorded: {row:?}");
    assert_eq!(row.label.as_deref(), Some("till 2"));
    assert!(listed.data.iter().all(|k| k.secret.is_none()));
    let first_use = row.last_used_at;

    // Within the minute, more use writes nothing; a minute later it does.
    new_key.terminals().await?;
    let again = owner.api_keys().await?;
    let row = again
        .data
        .iter()
        .find(|k| k.id == created.id)
        .expect("listed");
    assert_eq!(row.last_used_at, first_use, "at most one write a minute");
    clock.advance(Duration::from_secs(61));
    new_key.terminals().await?;
    let later = owner.api_keys().await?;
    let row = later
        .data
        .iter()
        .find(|k| k.id == created.id)
        .expect("listed");
    assert!(row.last_used_at > first_use, "{row:?}");

    // Revoked: the very next request is refused, though the key was just cached.
    let revoked = owner.revoke_api_key(&created.id.to_string()).await?;
    assert!(revoked.revoked_at.is_some());
    let refused = new_key.terminals().await.expect_err("revoked");
    assert_eq!(status(&refused), Some(401));
    assert_eq!(refused.code(), Some("unauthorized"));
    // The owner's own key still works; another merchant cannot see or revoke the key.
    owner.terminals().await?;
    let other = ts.other_merchant("Other Shop").await?;
    let e = other
        .revoke_api_key(&created.id.to_string())
        .await
        .expect_err("not theirs");
    assert_eq!(status(&e), Some(404));
    assert!(
        other
            .api_keys()
            .await?
            .data
            .iter()
            .all(|k| k.id != created.id)
    );
    // A malformed id and a bad label are clear 4xx.
    let e = owner.revoke_api_key("nonsense").await.expect_err("bad id");
    assert_eq!(status(&e), Some(404));
    let e = owner
        .create_api_key(&CreateApiKeyRequest {
            label: Some("x".repeat(101)),
        })
        .await
        .expect_err("label too long");
    assert_eq!(status(&e), Some(400));
    ts.stop().await
}

#[tokio::test]
async fn merchants_need_an_admin_key_and_disabling_refuses_their_keys() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let admin_key = ts.engine().admin().create_admin_key().await?.secret;
    assert!(admin_key.starts_with("pg_admin_"));
    let admin = ts.client().with_key(&admin_key);

    // A merchant key is no admin key, and no key at all is refused.
    let e = ts
        .client()
        .admin_merchants()
        .await
        .expect_err("merchant key");
    assert_eq!(status(&e), Some(401));
    let r = ts
        .http()
        .get(format!("{}/v1/admin/merchants", ts.url()))
        .send()
        .await?;
    assert_eq!(r.status().as_u16(), 401);
    // …and an admin key reaches no merchant's data.
    let e = admin
        .terminals()
        .await
        .expect_err("admin key on a merchant endpoint");
    assert_eq!(status(&e), Some(401));

    let shop = admin.admin_create_merchant("Bakery Utrecht").await?;
    assert_eq!(shop.disabled_at, None);
    let listed = admin.admin_merchants().await?;
    assert!(listed.data.iter().any(|m| m.id == shop.id));
    let e = admin
        .admin_create_merchant("")
        .await
        .expect_err("empty name");
    assert_eq!(status(&e), Some(400));

    let key = admin
        .admin_create_api_key(
            &shop.id.to_string(),
            &AdminCreateApiKeyRequest {
                livemode: true,
                label: Some("first".into()),
            },
        )
        .await?;
    assert!(key.livemode);
    let secret = key.secret.expect("shown once");
    assert!(secret.starts_with("pg_live_"));
    let shop_client = ts.client().with_key(&secret);
    assert!(shop_client.terminals().await?.data.is_empty());

    let disabled = admin.admin_disable_merchant(&shop.id.to_string()).await?;
    assert!(disabled.disabled_at.is_some());
    let e = shop_client.terminals().await.expect_err("disabled");
    assert_eq!(status(&e), Some(401));
    // Other merchants are untouched; unknown merchants are 404.
    ts.client().terminals().await?;
    let e = admin
        .admin_disable_merchant("mer_nonexistent")
        .await
        .expect_err("unknown");
    assert_eq!(status(&e), Some(404));
    ts.stop().await
}

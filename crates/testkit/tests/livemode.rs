//! Live and test keys against simulated terminals (issue 12, first slice): a live key can
//! never drive or register a simulated terminal (`403 livemode_mismatch`), and the test
//! helpers refuse live keys (`403 test_mode_only`). A test key keeps doing all of it.

use poigate_api::{CreateApiKeyRequest, CreateTerminalRequest};
use poigate_domain::{ApiKeyMode, TerminalKind};
use poigate_testkit::{TestServer, sale};

#[tokio::test]
async fn a_live_key_never_drives_a_simulated_terminal() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let test = ts.client();
    let terminal = test.terminals().await?.data[0].poiid.clone();
    let caller = ts
        .engine()
        .admin()
        .authenticate(ts.key())
        .await?
        .expect("the test key");
    let live_secret = ts
        .engine()
        .admin()
        .create_api_key(caller.merchant_id, ApiKeyMode::Live, None)
        .await?
        .secret;
    let live = ts.client().with_key(&live_secret);

    let e = live
        .create_interaction(&sale(&terminal, 1000, "EUR"), None)
        .await
        .expect_err("a live key on a simulated terminal");
    assert_eq!(e.status().map(|s| s.as_u16()), Some(403), "{e}");
    assert_eq!(e.code(), Some("livemode_mismatch"));

    let e = live
        .create_terminal(&CreateTerminalRequest {
            serial_number: "777000111".into(),
            model: "V400m".into(),
            label: None,
            kind: Some(TerminalKind::Simulated),
            connection: None,
        })
        .await
        .expect_err("a live key registering a simulated terminal");
    assert_eq!(e.code(), Some("livemode_mismatch"));

    let e = live
        .test_helper(&terminal, "present-card", None)
        .await
        .expect_err("test helpers are test mode only");
    assert_eq!(e.status().map(|s| s.as_u16()), Some(403));
    assert_eq!(e.code(), Some("test_mode_only"));

    // The live key creates live keys only; the test key still sells on the simulator.
    let minted = live.create_api_key(&CreateApiKeyRequest::default()).await?;
    assert!(minted.livemode);
    assert!(
        minted
            .secret
            .as_deref()
            .is_some_and(|s| s.starts_with("pg_live_"))
    );
    let created = test
        .create_interaction(&sale(&terminal, 1000, "EUR"), None)
        .await?;
    assert!(!created.interaction.id.to_string().is_empty());
    ts.stop().await
}

//! Live and test keys over HTTP (issue 12): a live key can never drive or register a
//! simulated terminal (`403 livemode_mismatch`), and the test helpers refuse live keys
//! (`403 test_mode_only`). Each key sees only objects of its own mode: one of the other mode
//! answers 404 like another merchant's, lists never mix modes, and webhook endpoints are per
//! mode (a live event never reaches a test endpoint).

use poigate_api::{
    CreateApiKeyRequest, CreateTerminalRequest, CreateWebhookEndpointRequest, ListDeliveriesQuery,
    ListInteractionsQuery, PairRequest,
};
use poigate_domain::{ApiKeyMode, TerminalConnection, TerminalKind};
use poigate_testkit::{LinkTerminal, TestServer, eventually, sale};
use std::time::Duration;

fn endpoint(url: String) -> CreateWebhookEndpointRequest {
    CreateWebhookEndpointRequest {
        url,
        format: None,
        events: Some(vec!["*".into()]),
        description: None,
        enabled: None,
    }
}

fn status(e: &poigate_client::ClientError) -> Option<u16> {
    e.status().map(|s| s.as_u16())
}

#[tokio::test]
async fn each_key_sees_only_its_own_mode() -> anyhow::Result<()> {
    let ts = TestServer::start().await?;
    let test = ts.client();
    let test_terminal = test.terminals().await?.data[0].poiid.clone();
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

    // Webhook endpoints per mode, created before any event.
    let test_hook = test
        .create_webhook_endpoint(&endpoint("http://127.0.0.1:9/test".into()))
        .await?;
    let live_hook = live
        .create_webhook_endpoint(&endpoint("http://127.0.0.1:9/live".into()))
        .await?;
    assert!(!test_hook.livemode && live_hook.livemode);

    // A live key registers a real device (live) and pairs it; the link simulator plays it.
    let created = live
        .create_terminal(&CreateTerminalRequest {
            serial_number: "900100200".into(),
            model: "V400m".into(),
            label: None,
            kind: Some(TerminalKind::Device),
            connection: Some(TerminalConnection::Link),
        })
        .await?;
    assert!(created.livemode);
    let code = created.pairing.expect("a pairing code").pairing_code;
    let paired = live
        .pair(&PairRequest {
            pairing_code: code,
            serial_number: "900100200".into(),
        })
        .await?;
    let device = LinkTerminal {
        poiid: paired.poiid.clone(),
        serial: "900100200".into(),
        device_key: paired.device_key,
    };
    let _sim = ts.run_link_sim_as(&device, &live).await?;
    let live_terminal = device.poiid.clone();

    // Terminals: each key lists and finds only its own mode's.
    let live_list = live.terminals().await?.data;
    assert_eq!(
        live_list
            .iter()
            .map(|t| t.poiid.as_str())
            .collect::<Vec<_>>(),
        vec![live_terminal.as_str()]
    );
    assert!(live_list.iter().all(|t| t.livemode));
    let test_list = test.terminals().await?.data;
    assert!(!test_list.is_empty());
    assert!(
        test_list
            .iter()
            .all(|t| !t.livemode && t.poiid != live_terminal)
    );
    let e = test
        .terminal(&live_terminal)
        .await
        .expect_err("a test key on a live terminal");
    assert_eq!(status(&e), Some(404), "{e}");

    // Interactions: a live sale on the live terminal; a test sale on the simulator.
    let mut live_sale = sale(&live_terminal, 1000, "EUR");
    live_sale.sale_id = Some("till-9".into());
    let live_i = live.create_interaction(&live_sale, None).await?.interaction;
    assert!(live_i.livemode);
    let mut test_sale = sale(&test_terminal, 1000, "EUR");
    test_sale.sale_id = Some("till-9".into());
    let test_i = test.create_interaction(&test_sale, None).await?.interaction;
    assert!(!test_i.livemode);

    let e = test
        .get_interaction(&live_i.id.to_string(), None, None)
        .await
        .expect_err("a test key on a live interaction");
    assert_eq!(status(&e), Some(404), "{e}");
    let e = live
        .get_interaction(&test_i.id.to_string(), None, None)
        .await
        .expect_err("a live key on a test interaction");
    assert_eq!(status(&e), Some(404), "{e}");
    let e = test
        .create_interaction(&sale(&live_terminal, 500, "EUR"), None)
        .await
        .expect_err("a test key on a live terminal");
    // Named in a body, an unknown terminal is a 422, as another merchant's would be.
    assert_eq!(e.code(), Some("terminal_not_found"), "{e}");

    let by_sale = |client: poigate_client::Client| async move {
        client
            .lookup(&ListInteractionsQuery {
                sale_id: Some("till-9".into()),
                ..Default::default()
            })
            .await
    };
    let live_found = by_sale(live.clone()).await?.data;
    assert_eq!(
        live_found.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![live_i.id]
    );
    let test_found = by_sale(test.clone()).await?.data;
    assert_eq!(
        test_found.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![test_i.id]
    );

    // Transactions follow their interaction's mode.
    for (own, other, i) in [(&live, &test, &live_i), (&test, &live, &test_i)] {
        let done = eventually(Duration::from_secs(20), || async {
            let v = own
                .get_interaction(&i.id.to_string(), Some(5), None)
                .await
                .ok()?;
            v.transaction.filter(|_| v.is_final)
        })
        .await?;
        assert_eq!(done.livemode, i.livemode);
        let seen = own.transaction(&done.id.to_string()).await?;
        assert_eq!(seen.livemode, i.livemode);
        let e = other
            .transaction(&done.id.to_string())
            .await
            .expect_err("a key on a transaction of the other mode");
        assert_eq!(status(&e), Some(404), "{e}");
    }

    // Endpoints: lists and lookups per mode.
    let live_hooks = live.webhook_endpoints().await?.data;
    assert_eq!(
        live_hooks.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![live_hook.id]
    );
    let test_hooks = test.webhook_endpoints().await?.data;
    assert_eq!(
        test_hooks.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![test_hook.id]
    );
    let e = test
        .webhook_endpoint(&live_hook.id.to_string())
        .await
        .expect_err("a test key on a live endpoint");
    assert_eq!(status(&e), Some(404), "{e}");

    // Deliveries: the live interaction's events reach the live endpoint only, and each
    // key's delivery log holds only its own mode's.
    let live_log = eventually(Duration::from_secs(10), || async {
        let d = live
            .deliveries(&ListDeliveriesQuery::default())
            .await
            .ok()?;
        (!d.data.is_empty()).then_some(d.data)
    })
    .await?;
    assert!(
        live_log
            .iter()
            .all(|d| d.endpoint == Some(live_hook.id) && d.subject != test_i.id.to_string())
    );
    let test_log = eventually(Duration::from_secs(10), || async {
        let d = test
            .deliveries(&ListDeliveriesQuery::default())
            .await
            .ok()?;
        (!d.data.is_empty()).then_some(d.data)
    })
    .await?;
    assert!(
        test_log
            .iter()
            .all(|d| d.endpoint == Some(test_hook.id) && d.subject != live_i.id.to_string())
    );
    let e = test
        .delivery(&live_log[0].id.to_string())
        .await
        .expect_err("a test key on a live delivery");
    assert_eq!(status(&e), Some(404), "{e}");

    // Test helpers stay test-only.
    let e = live
        .test_helper(&live_terminal, "present-card", None)
        .await
        .expect_err("test helpers are test mode only");
    assert_eq!(e.code(), Some("test_mode_only"));
    ts.stop().await
}

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

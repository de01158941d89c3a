//! The OpenAPI 3.1 document, generated from the handlers' annotations. The committed copy in
//! `docs/openapi.json` is checked against it by a test, so the two cannot drift.

mod reference_page;
mod standard_errors;

use standard_errors::StandardErrors;

use crate::routes;
use std::sync::LazyLock;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "poigate",
        description = "Cloud gateway between point-of-sale systems and card payment terminals: \
                       asynchronous card-present transactions, status, events, long-poll, SSE.",
        license(name = "Apache-2.0"),
    ),
    paths(
        routes::create_interaction,
        routes::list_interactions,
        routes::get_interaction,
        routes::list_events,
        routes::stream_events,
        routes::stream_merchant_events,
        routes::cancel_interaction,
        routes::get_transaction,
        routes::capture,
        routes::increment,
        routes::void,
        routes::create_refund,
        routes::list_refunds,
        routes::get_refund,
        routes::transaction_events,
        routes::list_terminals,
        routes::create_terminal,
        routes::get_terminal,
        routes::create_pairing_code,
        routes::revoke_terminal,
        routes::terminal_link,
        routes::pair_terminal,
        routes::helper_present_card,
        routes::helper_press_cancel,
        routes::helper_timeout,
        routes::helper_hold,
        routes::helper_disconnect,
        routes::helper_connect,
        routes::helper_freeze,
        routes::helper_unfreeze,
        routes::create_webhook_endpoint,
        routes::list_webhook_endpoints,
        routes::get_webhook_endpoint,
        routes::update_webhook_endpoint,
        routes::delete_webhook_endpoint,
        routes::get_webhook_secret,
        routes::rotate_webhook_secret,
        routes::send_test_event,
        routes::get_callback_secret,
        routes::rotate_callback_secret,
        routes::list_deliveries,
        routes::get_delivery,
        routes::redeliver,
        routes::list_api_keys,
        routes::create_api_key,
        routes::revoke_api_key,
        routes::set_default_terminal,
        routes::admin_create_merchant,
        routes::admin_list_merchants,
        routes::admin_disable_merchant,
        routes::admin_create_api_key,
        crate::oauth::issue_token,
        routes::healthz,
        routes::readyz,
    ),
    components(schemas(poigate_api::Order, poigate_api::WebhookEvent)),
    modifiers(&BearerAuth, &StandardErrors),
    tags(
        (name = "interactions", description = "Requests to terminals and their lifecycle"),
        (name = "transactions", description = "Financial records of card decisions"),
        (name = "terminals", description = "Terminal registry and live status"),
        (name = "test helpers", description = "Drive simulated terminals (test keys only)"),
        (name = "webhooks", description = "Signed webhooks: endpoints, secrets, the delivery log"),
        (name = "events", description = "Every event of the merchant, live (Server-Sent Events): what `poigate listen` and dashboards follow"),
        (name = "terminal link", description = "Device-facing: pairing and the WebSocket of the terminal protocol (docs/terminal-protocol.md)"),
        (name = "api keys", description = "The merchant's API keys: list, create (secret shown once), revoke"),
        (name = "platform admin", description = "Merchants, for the operator: a platform admin key (`pg_admin_…`) is required"),
        (name = "authentication", description = "Short-lived access tokens for an API key"),
        (name = "operations", description = "Health and readiness"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("An API key: pg_test_… or pg_live_…"))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A platform admin key: pg_admin_… (from `poigate admin-key create`)",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "device_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some("A terminal's device key: pg_dev_… (from pairing)"))
                    .build(),
            ),
        );
    }
}

/// The document as pretty JSON with a trailing newline (the form committed to `docs/`).
pub fn document_json() -> String {
    let mut doc = ApiDoc::openapi();
    doc.info.version = env!("CARGO_PKG_VERSION").to_string();
    let mut text = doc.to_pretty_json().unwrap_or_else(|_| "{}".to_string());
    text.push('\n');
    text
}

/// The `/docs` reference page, rendered once from the document (it never changes while the
/// process runs).
pub fn reference_page() -> &'static str {
    static PAGE: LazyLock<String> = LazyLock::new(|| {
        let doc: serde_json::Value =
            serde_json::from_str(&document_json()).unwrap_or(serde_json::Value::Null);
        reference_page::render(&doc)
    });
    &PAGE
}

//! The committed `docs/openapi.json` must be exactly what the handlers generate.
//! Regenerate with: `cargo run -p poigate -- openapi > docs/openapi.json`

use std::path::PathBuf;

fn committed_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

#[test]
fn committed_openapi_matches_the_code() {
    let generated = poigate_http::openapi::document_json();
    let committed = std::fs::read_to_string(committed_path()).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `cargo run -p poigate -- openapi > docs/openapi.json`"
    );
}

#[test]
fn the_document_is_openapi_3_1_and_lists_the_native_api() {
    let doc: serde_json::Value =
        serde_json::from_str(&poigate_http::openapi::document_json()).expect("valid JSON");
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/interactions",
        "/v1/interactions/{id}",
        "/v1/interactions/{id}/events",
        "/v1/interactions/{id}/events/stream",
        "/v1/interactions/{id}/cancel",
        "/v1/transactions/{id}",
        "/v1/terminals",
        "/v1/terminals/{id}",
        "/v1/test-helpers/terminals/{id}/present-card",
        "/healthz",
        "/readyz",
    ] {
        assert!(
            doc["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["InteractionView"].is_object());
}

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

/// Every `$ref` in `value`, with the JSON path where it is.
fn refs<'a>(value: &'a serde_json::Value, at: String, out: &mut Vec<(String, &'a str)>) {
    match value {
        serde_json::Value::Object(map) => {
            for (k, v) in map {
                if k == "$ref"
                    && let Some(r) = v.as_str()
                {
                    out.push((at.clone(), r));
                }
                refs(v, format!("{at}/{k}"), out);
            }
        }
        serde_json::Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                refs(v, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc: serde_json::Value =
        serde_json::from_str(&poigate_http::openapi::document_json()).expect("valid JSON");
    let mut found = Vec::new();
    refs(&doc, String::new(), &mut found);
    assert!(!found.is_empty());
    let dangling: Vec<_> = found
        .iter()
        .filter(|(_, r)| {
            let Some(pointer) = r.strip_prefix('#') else {
                return true;
            };
            doc.pointer(pointer).is_none()
        })
        .collect();
    assert!(dangling.is_empty(), "dangling references: {dangling:?}");
}

#[test]
fn every_api_operation_documents_its_error_answers() {
    let doc: serde_json::Value =
        serde_json::from_str(&poigate_http::openapi::document_json()).expect("valid JSON");
    let paths = doc["paths"].as_object().expect("paths");
    let mut missing = Vec::new();
    for (path, item) in paths.iter().filter(|(p, _)| p.starts_with("/v1/")) {
        for (method, op) in item.as_object().expect("path item") {
            let responses = &op["responses"];
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut expect = vec!["503"];
            if op["security"].as_array().is_some_and(|s| !s.is_empty()) {
                expect.push("401");
                expect.push("429");
            }
            if params.iter().any(|p| p["in"] == "path") {
                expect.push("404");
            }
            if params.iter().any(|p| p["in"] == "query") || op["requestBody"].is_object() {
                expect.push("400");
            }
            for code in expect {
                if !responses[code].is_object() {
                    missing.push(format!("{method} {path}: {code}"));
                }
            }
            // What the server refuses, the schema refuses too.
            for p in &params {
                if p["name"] == "limit" {
                    assert_eq!(p["schema"]["minimum"], 1, "{method} {path} limit");
                    assert!(p["schema"]["maximum"].is_u64(), "{method} {path} limit");
                }
                if p["name"] == "wait" {
                    assert_eq!(p["schema"]["maximum"], 60, "{method} {path} wait");
                }
            }
        }
    }
    assert!(missing.is_empty(), "undocumented answers: {missing:#?}");
}

#[test]
fn the_reference_page_shows_every_operation_and_schema_without_scripts() {
    let doc: serde_json::Value =
        serde_json::from_str(&poigate_http::openapi::document_json()).expect("valid JSON");
    let page = poigate_http::openapi::reference_page();
    assert!(!page.contains("<script"), "the page must work offline");
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for op in item.as_object().expect("path item").values() {
            let id = op["operationId"].as_str().expect("operationId");
            assert!(page.contains(&format!("id=\"op-{id}\"")), "{path}: {id}");
        }
    }
    for name in doc["components"]["schemas"]
        .as_object()
        .expect("schemas")
        .keys()
    {
        assert!(page.contains(&format!("id=\"schema-{name}\"")), "{name}");
    }
}

//! Keys and merchants from the command line against a running gateway: `admin-key create`
//! on the data directory, then `merchants …` with that key and `api-keys …` with a merchant's.

mod support;

use std::process::Command;

fn poigate(args: &[&str]) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(args)
        .output()
        .expect("run poigate");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn merchants_and_keys_are_managed_over_the_api() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().to_str().expect("utf-8 path");
    let demo_key = format!("pg_test_{}", "c".repeat(48));
    let (_gateway, url) = support::start_demo(dir.path(), &demo_key, "0");

    let (ok, admin, err) = poigate(&["admin-key", "create", "--data-dir", data]);
    assert!(ok, "{err}");
    let admin = admin.trim().to_string();
    assert!(admin.starts_with("pg_admin_"), "{admin}");
    assert!(err.contains("shown once"), "{err}");

    let (ok, created, err) = poigate(&[
        "merchants",
        "create",
        "Kiosk",
        "--url",
        &url,
        "--key",
        &admin,
        "--json",
    ]);
    assert!(ok, "{err}");
    let merchant: serde_json::Value = serde_json::from_str(&created).expect("json");
    let id = merchant["id"].as_str().expect("id").to_string();
    let (ok, key, err) = poigate(&[
        "merchants",
        "create-key",
        &id,
        "--url",
        &url,
        "--key",
        &admin,
    ]);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    assert!(key.starts_with("pg_test_"), "{key}");

    let (ok, listed, err) = poigate(&["api-keys", "list", "--url", &url, "--key", &key]);
    assert!(ok, "{err}");
    assert!(
        listed.contains("test") && listed.contains("last used"),
        "{listed}"
    );
    let (ok, _, err) = poigate(&["merchants", "disable", &id, "--url", &url, "--key", &admin]);
    assert!(ok, "{err}");
    let (ok, _, err) = poigate(&["api-keys", "list", "--url", &url, "--key", &key]);
    assert!(!ok, "a disabled merchant's key is refused");
    assert!(
        err.contains("401") || err.to_lowercase().contains("unauthorized"),
        "{err}"
    );
    // A merchant key cannot manage merchants.
    let (ok, _, _) = poigate(&["merchants", "list", "--url", &url, "--key", &demo_key]);
    assert!(!ok);
}

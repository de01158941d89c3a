//! Data-directory administration from the command line: keys and terminals.

use std::process::Command;

fn poigate(args: &[&str], data_dir: &std::path::Path) -> (bool, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .output()
        .expect("run poigate");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn keys_and_terminals_are_managed_in_the_data_directory() {
    let dir = tempfile::tempdir().expect("dir");
    let (ok, key, err) = poigate(
        &[
            "keys",
            "create",
            "--merchant",
            "Corner Shop",
            "--label",
            "pos",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    let key = key.trim();
    assert!(key.starts_with("pg_test_") && key.len() == 56, "{key}");
    assert!(err.contains("shown once"), "{err}");
    let (ok, live, _) = poigate(
        &["keys", "create", "--merchant", "Corner Shop", "--live"],
        dir.path(),
    );
    assert!(ok);
    assert!(live.trim().starts_with("pg_live_"));
    assert_ne!(live.trim(), key);

    let (ok, added, err) = poigate(
        &[
            "terminals",
            "add",
            "--merchant",
            "Corner Shop",
            "--serial",
            "555000111",
            "--model",
            "P400Plus",
            "--label",
            "Front",
        ],
        dir.path(),
    );
    assert!(ok, "{err}");
    assert!(added.contains("P400Plus-555000111"), "{added}");
    let (ok, _, err) = poigate(
        &[
            "terminals",
            "add",
            "--merchant",
            "Corner Shop",
            "--serial",
            "555000111",
        ],
        dir.path(),
    );
    assert!(!ok, "a serial number is registered once");
    assert!(err.contains("already exists"), "{err}");
    let (ok, _, err) = poigate(
        &[
            "terminals",
            "add",
            "--merchant",
            "Corner Shop",
            "--serial",
            "bad serial!",
        ],
        dir.path(),
    );
    assert!(!ok);
    assert!(err.contains("serial_number"), "{err}");
    let (ok, list, _) = poigate(
        &["terminals", "list", "--merchant", "Corner Shop"],
        dir.path(),
    );
    assert!(ok);
    assert_eq!(list.lines().count(), 1);
    assert!(
        list.contains("P400Plus-555000111") && list.contains("simulated") && list.contains("Front")
    );
    let (ok, _, err) = poigate(&["terminals", "list", "--merchant", "Nobody"], dir.path());
    assert!(!ok);
    assert!(err.contains("no merchant"), "{err}");
}

//! The administration commands (`keys`, `terminals`, `settle`) read the same configuration
//! as `serve`: built-in defaults, the TOML file (`--config` / `POIGATE_CONFIG`), environment
//! variables, flags, each overriding the one before.

use std::path::Path;
use std::process::Command;

/// Runs `poigate <args>` in `cwd` with only the given `POIGATE_*` variables (none inherited).
fn poigate(cwd: &Path, args: &[&str], env: &[(&str, &Path)]) -> (bool, String, String) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_poigate"));
    command.current_dir(cwd).args(args);
    for (name, _) in std::env::vars() {
        if name.starts_with("POIGATE_") {
            command.env_remove(name);
        }
    }
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().expect("run poigate");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// A config file naming `data_dir` (and anything else in `extra`).
fn config_file(dir: &Path, data_dir: &Path, extra: &str) -> std::path::PathBuf {
    let path = dir.join("poigate.toml");
    let text = format!("data_dir = {:?}\n{extra}", data_dir.display().to_string());
    std::fs::write(&path, text).expect("write config");
    path
}

const ADD: [&str; 6] = [
    "terminals",
    "add",
    "--merchant",
    "Corner Shop",
    "--serial",
    "555000111",
];
const LIST: [&str; 4] = ["terminals", "list", "--merchant", "Corner Shop"];

#[test]
fn the_data_directory_comes_from_the_config_file_or_its_variable() {
    let dir = tempfile::tempdir().expect("dir");
    let (cwd, from_file) = (dir.path().join("cwd"), dir.path().join("from-file"));
    std::fs::create_dir_all(&cwd).expect("cwd");
    let file = config_file(dir.path(), &from_file, "");
    let file_arg = file.to_str().expect("utf-8 path");

    let (ok, key, err) = poigate(
        &cwd,
        &[
            "keys",
            "create",
            "--merchant",
            "Corner Shop",
            "--config",
            file_arg,
        ],
        &[],
    );
    assert!(ok, "{err}");
    assert!(key.trim().starts_with("pg_test_"), "{key}");
    assert!(
        from_file.join("poigate.db").is_file(),
        "the file's data_dir"
    );
    assert!(!cwd.join("poigate-data").exists(), "not the default");

    let mut add = ADD.to_vec();
    add.extend(["--config", file_arg]);
    let (ok, _, err) = poigate(&cwd, &add, &[]);
    assert!(ok, "{err}");

    // The same file named by POIGATE_CONFIG: the same database, so the same terminal.
    let (ok, list, err) = poigate(&cwd, &LIST, &[("POIGATE_CONFIG", &file)]);
    assert!(ok, "{err}");
    assert!(list.contains("V400m-555000111"), "{list}");
    let (ok, settled, err) = poigate(&cwd, &["settle"], &[("POIGATE_CONFIG", &file)]);
    assert!(ok, "{err}");
    assert!(settled.contains("settled 0 transaction"), "{settled}");
    assert!(!cwd.join("poigate-data").exists(), "not the default");
}

#[test]
fn environment_and_flags_override_the_config_file() {
    let dir = tempfile::tempdir().expect("dir");
    let cwd = dir.path();
    let (in_file, in_env, in_flag) = (
        dir.path().join("in-file"),
        dir.path().join("in-env"),
        dir.path().join("in-flag"),
    );
    let file = config_file(dir.path(), &in_file, "");
    let file_arg = file.to_str().expect("utf-8 path");

    // POIGATE_DATA_DIR beats the file's data_dir.
    let (ok, _, err) = poigate(
        cwd,
        &ADD,
        &[("POIGATE_CONFIG", &file), ("POIGATE_DATA_DIR", &in_env)],
    );
    assert!(ok, "{err}");
    assert!(in_env.join("poigate.db").is_file());
    assert!(!in_file.exists(), "the file's data_dir was overridden");

    // --data-dir beats both.
    let mut add = ADD.to_vec();
    add.extend(["--config", file_arg, "--data-dir"]);
    add.push(in_flag.to_str().expect("utf-8 path"));
    let (ok, _, err) = poigate(cwd, &add, &[("POIGATE_DATA_DIR", &in_env)]);
    assert!(ok, "{err}");
    assert!(in_flag.join("poigate.db").is_file());
    assert!(!in_file.exists(), "the file's data_dir was overridden");

    // Each database holds what was written to it, and only that.
    let (ok, list, err) = poigate(cwd, &LIST, &[("POIGATE_DATA_DIR", &in_flag)]);
    assert!(ok && list.lines().count() == 1, "{list}{err}");
    let (ok, _, err) = poigate(cwd, &LIST, &[("POIGATE_CONFIG", &file)]);
    assert!(!ok && err.contains("no merchant"), "{err}");
}

#[test]
fn the_config_file_is_validated_like_serves() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let file = config_file(dir.path(), &data, "[database]\nread_connections = 0\n");
    let (ok, _, err) = poigate(dir.path(), &LIST, &[("POIGATE_CONFIG", &file)]);
    assert!(!ok);
    assert!(
        err.contains("database.read_connections must be 1 to 64"),
        "{err}"
    );
    std::fs::write(&file, "data_dir = \"x\"\ndata_dri = \"typo\"\n").expect("write");
    let (ok, _, err) = poigate(dir.path(), &["settle"], &[("POIGATE_CONFIG", &file)]);
    assert!(!ok);
    assert!(err.contains("invalid config file"), "{err}");
    assert!(!data.exists() && !dir.path().join("x").exists());
}

#[test]
fn the_engine_settings_come_from_the_config_file_too() {
    let dir = tempfile::tempdir().expect("dir");
    let data = dir.path().join("data");
    let file = config_file(dir.path(), &data, "[link]\npairing_code_ttl_seconds = 60\n");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis() as i64;
    let mut add = ADD.to_vec();
    add.push("--link");
    let (ok, _, err) = poigate(dir.path(), &add, &[("POIGATE_CONFIG", &file)]);
    assert!(ok, "{err}");
    let until = err
        .split("valid until ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .and_then(poigate_domain::Timestamp::parse_rfc3339)
        .unwrap_or_else(|| panic!("no expiry in {err}"));
    let ttl_ms = until.as_millis() - now;
    assert!(
        (50_000..=70_000).contains(&ttl_ms),
        "the file's 60 s pairing code lifetime, not the 600 s default: {ttl_ms} ms ({err})"
    );
}

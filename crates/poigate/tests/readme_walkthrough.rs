//! The README's walkthrough, run exactly as written against the `poigate serve --demo`
//! binary (only faster: `--sim-speed 0.02`, and on a free port).

mod support;

use std::path::PathBuf;
use std::process::Command;

fn readme() -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(path).expect("README.md")
}

/// The ```bash blocks between `<!-- walkthrough -->` and `<!-- /walkthrough -->`.
fn walkthrough_script(readme: &str) -> String {
    let start = readme
        .find("<!-- walkthrough -->")
        .expect("walkthrough start marker");
    let end = readme
        .find("<!-- /walkthrough -->")
        .expect("walkthrough end marker");
    let section = &readme[start..end];
    let mut script = String::new();
    let mut in_bash = false;
    for line in section.lines() {
        if in_bash {
            if line.trim_start().starts_with("```") {
                in_bash = false;
                script.push('\n');
            } else {
                script.push_str(line);
                script.push('\n');
            }
        } else if line.trim() == "```bash" {
            in_bash = true;
        }
    }
    assert!(
        !script.trim().is_empty(),
        "no bash blocks in the walkthrough"
    );
    script
}

#[test]
fn the_readme_walkthrough_works_as_written() {
    let dir = tempfile::tempdir().expect("temp dir");
    let key = "pg_test_readme_walkthrough_0123456789abcdef";
    let (_server, url) = support::start_demo(&dir.path().join("data"), key, "0.02");
    let script = walkthrough_script(&readme());
    let bin_dir = PathBuf::from(env!("CARGO_BIN_EXE_poigate"))
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .arg("-c")
        .arg(format!("set -euo pipefail\n{script}"))
        .current_dir(dir.path())
        .env("POIGATE_URL", &url)
        .env("POIGATE_API_KEY", key)
        .env("PATH", path)
        .output()
        .expect("run bash");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "walkthrough failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    for expected in [
        "\"pending\"",           // 1. the sale is accepted
        "\"approved\"",          // 2. long-poll sees the outcome
        "476173******0010",      // masked card
        "Processing payment...", // 3. events carry the stages
        "CUSTOMER COPY",         // the receipt
        "APPROVED  auth code",   // 4. the CLI
        "DECLINED  Not enough balance",
        "exit code 3 (declined)",
        "\"terminal_busy\"", // 5. busy terminal
        "\"blocking_interaction\": \"int_",
        "\"result\": \"cancelled\"", // 6. cancel
        "\"api\"",
        "idempotent-replayed: true", // 7. lost response
    ] {
        assert!(
            stdout.to_lowercase().contains(&expected.to_lowercase()),
            "expected {expected:?} in the walkthrough output\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
        );
    }
}

#[test]
fn pay_refuses_more_decimals_than_the_currency_has() {
    let output = Command::new(env!("CARGO_BIN_EXE_poigate"))
        .args([
            "pay",
            "1.005",
            "EUR",
            "--terminal",
            "V400m-1",
            "--url",
            "http://127.0.0.1:9",
            "--key",
            "pg_test_x",
        ])
        .output()
        .expect("run poigate pay");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("EUR allows at most 2 decimal(s)"),
        "{stderr}"
    );
}

//! `poigate-bench system` end to end, in its smallest form (`--smoke`): every process starts,
//! every row is measured and the JSON report has each row with its baseline and ratio. The
//! figures themselves are not judged here — timing belongs to the benchmark, not to tests.
//!
//! It measures the real `poigate` binary, which cargo builds next to `poigate-bench` in
//! `cargo test --workspace` (the `poigate` package has integration tests). Run alone
//! (`cargo test -p poigate-bench`), it needs `cargo build -p poigate` first.

use std::path::PathBuf;
use std::process::Command;

const SYSTEM_ROWS: [&str; 19] = [
    "S1",
    "S1.2c",
    "D1.get",
    "D1.adyen",
    "S1.c50",
    "S1.c99",
    "S1.f50",
    "S1.f99",
    "S1.o50",
    "S1.o99",
    "S1.of99",
    "S2.get",
    "S2.events",
    "S2.lookup",
    "S4.50",
    "S4.99",
    "S4.fan99",
    "S5.poll",
    "S5.link",
];
const BASELINE_ROWS: [&str; 8] = ["B1", "B2", "B3", "B4", "B5", "B6", "B7", "B8"];
/// CPU time per operation: measured in clock ticks (10 ms), so a smoke run's windows may
/// round a figure to zero; present, with a ratio to B9, is what is checked.
const CPU_ROWS: [&str; 5] = ["S1.cpu", "S1.2ccpu", "D1.getcpu", "D1.adyencpu", "B9"];

/// The `poigate` binary next to `poigate-bench`: the one the benchmark finds by default.
/// Missing, the test fails with the command that builds it (never passes without running).
fn poigate_next_to_the_bench() -> PathBuf {
    let bench = PathBuf::from(env!("CARGO_BIN_EXE_poigate-bench"));
    let poigate = bench.with_file_name(format!("poigate{}", std::env::consts::EXE_SUFFIX));
    assert!(
        poigate.is_file(),
        "{} is missing: run `cargo build -p poigate` first (cargo test --workspace builds it)",
        poigate.display()
    );
    poigate
}

#[test]
fn the_benchmark_measures_every_row_against_its_baseline() -> anyhow::Result<()> {
    poigate_next_to_the_bench();
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("bench.json");
    let run = Command::new(env!("CARGO_BIN_EXE_poigate-bench"))
        .args(["system", "--smoke", "--out"])
        .arg(&out)
        .env_remove("POIGATE_BIN")
        .output()?;
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("| row | figure | value | baseline | ratio | target |"));
    assert!(
        stderr.contains("pinned with taskset") || stderr.contains("not pinned"),
        "the run says how it placed the processes: {stderr}"
    );

    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    let rows = report["rows"].as_array().cloned().unwrap_or_default();
    let row = |id: &str| rows.iter().find(|r| r["id"] == id).cloned();
    for id in BASELINE_ROWS {
        let r = row(id).ok_or_else(|| anyhow::anyhow!("no row {id}"))?;
        assert!(r["value"].as_f64().is_some_and(|v| v > 0.0), "{r}");
    }
    for id in SYSTEM_ROWS {
        let r = row(id).ok_or_else(|| anyhow::anyhow!("no row {id}"))?;
        let value = r["value"].as_f64().unwrap_or(-1.0);
        assert!(value > 0.0, "{r}");
        let baseline = r["baseline"][1].as_f64().unwrap_or(0.0);
        let ratio = r["ratio"].as_f64().unwrap_or(-1.0);
        assert!(baseline > 0.0, "{id} has a baseline: {r}");
        assert!((ratio - value / baseline).abs() < 1e-9, "{r}");
    }
    for id in CPU_ROWS {
        let r = row(id).ok_or_else(|| anyhow::anyhow!("no row {id}"))?;
        assert!(r["value"].as_f64().is_some_and(|v| v >= 0.0), "{r}");
        if id != "B9" {
            assert_eq!(r["baseline"][0], "B9", "{r}");
        }
    }
    let details = &report["details"];
    assert_eq!(details["dialect"]["adyen_status"]["errors"], 0);
    assert_eq!(details["both_cores"]["errors"], 0);
    assert_eq!(details["end_to_end"]["errors"], 0);
    assert_eq!(
        details["parked"]["fanout_woken"], 40,
        "every parked long-poll woke"
    );
    assert_eq!(details["link"]["connections"], 20);
    assert_eq!(report["plan"]["mode"], "smoke");
    Ok(())
}

#[test]
fn a_missing_poigate_binary_is_named_with_the_command_to_build_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // A copy of the bench alone in a directory: no `poigate` next to it.
    let lonely = dir.path().join("poigate-bench");
    std::fs::copy(env!("CARGO_BIN_EXE_poigate-bench"), &lonely)?;
    let run = Command::new(&lonely)
        .args(["system", "--smoke"])
        .env_remove("POIGATE_BIN")
        .output()?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(
        stderr.contains("no poigate executable at")
            && stderr.contains("cargo build -p poigate")
            && stderr.contains("--poigate-bin"),
        "{stderr}"
    );

    let run = Command::new(&lonely)
        .args(["system", "--smoke"])
        .env("POIGATE_BIN", dir.path().join("nothing-here"))
        .output()?;
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success(), "{stderr}");
    assert!(stderr.contains("POIGATE_BIN names"), "{stderr}");
    Ok(())
}

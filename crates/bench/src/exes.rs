//! The executables a benchmark run starts: the `poigate` binary under test (the real server
//! and the real `terminal-sim`, as shipped) and this benchmark binary itself (the bare axum
//! baseline and the link-memory clients, which must not count against the gateway).

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Both executables of a run.
pub struct Exes {
    /// The `poigate` binary being measured.
    pub poigate: PathBuf,
    /// This `poigate-bench` binary, for its internal helper subcommands.
    pub me: PathBuf,
}

/// This executable.
pub fn this_exe() -> anyhow::Result<PathBuf> {
    std::env::current_exe().context("cannot find the poigate-bench executable")
}

/// The `poigate` binary to measure: `explicit` (`--poigate-bin` / `POIGATE_BIN`) when given,
/// else `poigate` in the directory of this executable — the same cargo target directory and
/// profile, so `cargo build [--release] -p poigate -p poigate-bench` builds both side by side.
/// A missing binary is an error that names the command to build it, never a silent fallback
/// to some other `poigate` on the `PATH` (that could measure a different version).
pub fn poigate(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        anyhow::ensure!(
            path.is_file(),
            "--poigate-bin / POIGATE_BIN names {}, which is not a file",
            path.display()
        );
        return Ok(path.to_path_buf());
    }
    let me = this_exe()?;
    let path = me.with_file_name(format!("poigate{}", std::env::consts::EXE_SUFFIX));
    if path.is_file() {
        return Ok(path);
    }
    let release = me
        .parent()
        .and_then(Path::file_name)
        .is_some_and(|dir| dir == "release");
    anyhow::bail!(
        "no poigate executable at {}: build it with `cargo build {}-p poigate` (or pass --poigate-bin PATH / POIGATE_BIN)",
        path.display(),
        if release { "--release " } else { "" }
    )
}

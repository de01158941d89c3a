//! The processes of a benchmark run: the gateway (or the bare axum baseline) on one core, the
//! simulated terminals and the load generator on the other, and what `/proc` says of them.

use anyhow::Context;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// Which cores the server and the load run on, when the machine lets us choose.
#[derive(Clone, Debug)]
pub struct Placement {
    /// `taskset` with the server's core list, when `taskset` exists and there are two cores.
    server_core: Option<usize>,
    load_core: Option<usize>,
}

impl Placement {
    /// Server on core 0, everything else (this process and its other children) on core 1 —
    /// when there are at least two cores and `taskset` runs.
    pub fn detect() -> Placement {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let taskset = std::process::Command::new("taskset")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if cores >= 2 && taskset {
            Placement {
                server_core: Some(0),
                load_core: Some(1),
            }
        } else {
            Placement {
                server_core: None,
                load_core: None,
            }
        }
    }

    pub fn describe(&self) -> String {
        match (self.server_core, self.load_core) {
            (Some(s), Some(l)) => format!(
                "pinned with taskset: server on core {s}; load generator and simulated terminals on core {l}"
            ),
            _ => "not pinned (taskset missing or fewer than two cores): server and load share the cores".into(),
        }
    }

    /// Pins this process (every thread started after this call) to the load core.
    pub fn pin_self(&self) -> anyhow::Result<()> {
        let Some(core) = self.load_core else {
            return Ok(());
        };
        // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it, and
        // sched_setaffinity only reads it.
        let result = unsafe {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(core, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
        };
        anyhow::ensure!(
            result == 0,
            "cannot pin the load generator to core {core}: {}",
            std::io::Error::last_os_error()
        );
        Ok(())
    }

    fn command(&self, core: Option<usize>, exe: &Path) -> Command {
        match core {
            Some(core) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(core.to_string()).arg(exe);
                c
            }
            None => Command::new(exe),
        }
    }

    pub fn server_command(&self, exe: &Path) -> Command {
        self.command(self.server_core, exe)
    }

    /// The server, free to run on every core (the load generator stays on its own).
    pub fn server_command_all_cores(&self, exe: &Path) -> Command {
        Command::new(exe)
    }

    pub fn load_command(&self, exe: &Path) -> Command {
        self.command(self.load_core, exe)
    }
}

/// A child process whose standard output is read line by line (and drained, so that it
/// never blocks on a full pipe); killed when dropped.
pub struct Proc {
    pub name: &'static str,
    child: Child,
    lines: mpsc::UnboundedReceiver<String>,
}

impl Proc {
    pub fn spawn(name: &'static str, mut command: Command) -> anyhow::Result<Proc> {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start the {name}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, lines) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut reader = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                if tx.send(line).is_err() {
                    // Nobody listens any more: keep draining.
                    continue;
                }
            }
        });
        Ok(Proc { name, child, lines })
    }

    pub fn pid(&self) -> anyhow::Result<u32> {
        self.child.id().context("the process has exited")
    }

    /// Waits for a line that `pick` accepts, returning what it made of it; every line seen
    /// on the way goes to `seen`.
    pub async fn line<T>(
        &mut self,
        within: Duration,
        mut seen: impl FnMut(&str),
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.lines.recv())
                .await
                .with_context(|| format!("the {} did not say it was ready in time", self.name))?
                .with_context(|| format!("the {} exited", self.name))?;
            seen(&line);
            if let Some(v) = pick(&line) {
                return Ok(v);
            }
        }
    }

    /// Writes a line to the child's standard input.
    pub async fn say(&mut self, line: &str) -> anyhow::Result<()> {
        use tokio::io::AsyncWriteExt;
        let stdin = self.child.stdin.as_mut().context("no stdin")?;
        stdin.write_all(format!("{line}\n").as_bytes()).await?;
        stdin.flush().await?;
        Ok(())
    }

    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}

/// Resident set size of a process in KiB (`VmRSS` in `/proc/<pid>/status`).
pub fn rss_kib(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .context("cannot read /proc (memory rows need Linux)")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .context("no VmRSS in /proc/<pid>/status")
}

/// CPU time a process has used, in clock ticks (`utime + stime` of `/proc/<pid>/stat`).
fn cpu_ticks(pid: u32) -> anyhow::Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces: fields are counted after its closing parenthesis.
    let after = stat.rsplit_once(')').map(|(_, r)| r).context("bad stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    Ok(utime + stime)
}

/// Clock ticks per second of `/proc/<pid>/stat` times.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a configuration value.
    match unsafe { libc::sysconf(libc::_SC_CLK_TCK) } {
        t if t > 0 => t as f64,
        _ => 100.0,
    }
}

/// CPU time a process has used so far (user + system, all threads), in seconds; at the
/// resolution of a clock tick (10 ms), so windows are seconds long.
pub fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    Ok(cpu_ticks(pid)? as f64 / ticks_per_second())
}

/// Waits until a process has settled — it used under 5% of a core over the last `quiet` —
/// after handling what was sent to it (idle link connections still send heartbeats, so
/// "no CPU at all" may never come); gives up after `within`.
pub async fn quiesce(pid: u32, quiet: Duration, within: Duration) -> anyhow::Result<()> {
    let allowed = (quiet.as_secs_f64() * ticks_per_second() * 0.05).max(1.0) as u64;
    let deadline = Instant::now() + within;
    loop {
        let before = cpu_ticks(pid)?;
        tokio::time::sleep(quiet).await;
        if cpu_ticks(pid)?.saturating_sub(before) <= allowed {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "process {pid} did not settle within {within:?}"
        );
    }
}

/// Raises this process's open-files limit to its hard limit (children inherit it) and
/// returns the new soft limit.
pub fn raise_open_files() -> u64 {
    // SAFETY: getrlimit/setrlimit read and write a plain struct we own.
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return 1024;
        }
        if limit.rlim_cur < limit.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: limit.rlim_max,
                rlim_max: limit.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                return raised.rlim_cur;
            }
        }
        limit.rlim_cur
    }
}

/// A scratch directory for the run's databases, removed at the end.
pub fn scratch_dir() -> anyhow::Result<tempfile::TempDir> {
    Ok(tempfile::Builder::new()
        .prefix("poigate-bench-")
        .tempdir()?)
}

//! A real PostgreSQL server for tests (feature `testing`): this crate's conformance tests
//! use it now, the multi-node tests in `poigate-testkit` later.
//!
//! [`PgServer::start`] finds the server binaries, runs `initdb` into a temporary directory
//! and `pg_ctl start` on a free TCP port on 127.0.0.1 (its unix socket goes in the same
//! temporary directory), as the `postgres` user when the tests run as root (PostgreSQL
//! refuses to run as root). It waits for readiness by polling `pg_isready` against a
//! deadline, and stops the server (`pg_ctl stop -m fast`) and removes the directory when
//! dropped. [`PgServer::restart`] restarts it on the same port and data, for outage tests.
//!
//! Most tests want [`PgServer::shared`] (one server per test binary, stopped when the
//! process exits) and one fresh database each ([`PgServer::create_database`]), so tests run
//! in parallel without sharing rows; [`fresh_database`] does both.
//!
//! **Mandatory in CI, skippable elsewhere.** Without server binaries, when the environment
//! has `POIGATE_REQUIRE_POSTGRES=1` (`.ci/run` sets it) the tests fail with a clear message;
//! otherwise each test prints one `skipped:` line and passes.
//!
//! The server is tuned for tests, not durability: `fsync=off`, `synchronous_commit=off`,
//! `full_page_writes=off` (a crash of the test machine loses a throw-away database).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Set to `1` to make a missing PostgreSQL a test failure instead of a skip.
pub const REQUIRE_ENV: &str = "POIGATE_REQUIRE_POSTGRES";
/// Optional: the directory holding `initdb`, `pg_ctl` and `postgres`.
pub const BINDIR_ENV: &str = "POIGATE_PG_BINDIR";

/// The one line a test prints when it skips.
pub const SKIP_LINE: &str = "skipped: PostgreSQL server binaries not found (apt-get install postgresql, or set POIGATE_REQUIRE_POSTGRES=1 to make this an error)";

/// How long start-up and restart may take before the harness gives up.
const READY_DEADLINE: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(
        "PostgreSQL server binaries not found (looked at ${BINDIR_ENV}, `pg_config --bindir`, /usr/lib/postgresql/*/bin and PATH)"
    )]
    NotFound,
    #[error("{0}")]
    Failed(String),
}

/// Whether PostgreSQL tests must run here (CI) rather than skip.
pub fn required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// The directory holding the server binaries (`initdb`, `pg_ctl`, `postgres`,
/// `pg_isready`): `$POIGATE_PG_BINDIR` when set (and nothing else then), else
/// `pg_config --bindir`, the newest
/// `/usr/lib/postgresql/<version>/bin`, or the directory of `initdb` on `PATH`.
pub fn find_bindir() -> Option<PathBuf> {
    let has_server = |dir: &Path| dir.join("initdb").is_file() && dir.join("pg_ctl").is_file();
    // An explicit directory is the answer, found or not (so `POIGATE_PG_BINDIR=none` shows
    // what a machine without PostgreSQL does).
    if let Some(dir) = std::env::var_os(BINDIR_ENV).map(PathBuf::from) {
        return has_server(&dir).then_some(dir);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output()
        && out.status.success()
    {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if has_server(&dir) {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            has_server(&bin).then_some((version, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, dir)) = versions.pop() {
        return Some(dir);
    }
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|dir| has_server(dir))
}

/// A running PostgreSQL server in a temporary directory. Stopped and removed when dropped.
pub struct PgServer {
    bindir: PathBuf,
    /// Holds `data/` (the cluster), the socket and `server.log`.
    dir: PathBuf,
    port: u16,
    /// Run the server's tools as `postgres` (the tests run as root).
    as_postgres: bool,
    stopped: AtomicBool,
    /// Keeps the directory alive; removed on drop (or at exit for the shared server).
    _tempdir: Option<tempfile::TempDir>,
}

static SHARED: OnceLock<Result<PgServer, String>> = OnceLock::new();
static DATABASES: AtomicU32 = AtomicU32::new(0);

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(server)) = SHARED.get() {
        server.stop();
        let _ = std::fs::remove_dir_all(&server.dir);
    }
}

impl PgServer {
    /// The server every test of this binary shares, started on first use and stopped when
    /// the process exits. `None` (after printing [`SKIP_LINE`]) when no server binaries are
    /// installed and PostgreSQL is not [`required`]; panics with the reason when they are
    /// missing but required, or when the server does not start.
    pub fn shared() -> Option<&'static PgServer> {
        let started = SHARED.get_or_init(|| match PgServer::start() {
            Ok(server) => {
                // SAFETY: registers a plain `extern "C" fn` with no arguments; atexit
                // handlers run once at process exit. A failure to register only means
                // the server outlives the tests.
                unsafe {
                    libc::atexit(stop_shared_at_exit);
                }
                Ok(server)
            }
            Err(HarnessError::NotFound) => Err(String::new()),
            Err(e) => Err(e.to_string()),
        });
        match started {
            Ok(server) => Some(server),
            Err(e) if e.is_empty() => {
                if required() {
                    panic!(
                        "PostgreSQL is required here ({REQUIRE_ENV}=1) but its server binaries were not found: install the `postgresql` package or set {BINDIR_ENV}"
                    );
                }
                print_skip_line();
                None
            }
            Err(e) => panic!("the PostgreSQL test server did not start: {e}"),
        }
    }

    /// Starts a server of its own (for tests that stop or restart it).
    pub fn start() -> Result<PgServer, HarnessError> {
        let bindir = find_bindir().ok_or(HarnessError::NotFound)?;
        let as_postgres = is_root();
        let tempdir = tempfile::Builder::new()
            .prefix("poigate-pg-")
            .tempdir()
            .map_err(|e| fail(format!("cannot create a temporary directory: {e}")))?;
        let dir = tempdir.path().to_path_buf();
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(&dir))?;
        }
        let mut server = PgServer {
            bindir,
            dir,
            port: 0,
            as_postgres,
            stopped: AtomicBool::new(true),
            _tempdir: Some(tempdir),
        };
        server.initdb()?;
        // A free port can be taken between our probe and the server's bind: try again on
        // another one.
        let mut last = String::new();
        for _ in 0..5 {
            server.port = free_port()?;
            server.configure()?;
            match server.pg_ctl(&["start", "-w", "-t", "60"], true) {
                Ok(()) => {
                    server.stopped.store(false, Ordering::SeqCst);
                    server.wait_ready()?;
                    return Ok(server);
                }
                Err(e) => last = format!("{e}; log: {}", server.log_tail()),
            }
        }
        Err(fail(format!("pg_ctl start failed: {last}")))
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `name` (user `postgres`, trust authentication).
    pub fn url(&self, name: &str) -> String {
        format!(
            "postgres://postgres@127.0.0.1:{}/{name}?connect_timeout=5",
            self.port
        )
    }

    /// Creates an empty database with a name unique in this server's life; returns its URL.
    pub async fn create_database(&self) -> Result<String, HarnessError> {
        let name = format!(
            "poigate_{}_{}",
            std::process::id(),
            DATABASES.fetch_add(1, Ordering::SeqCst)
        );
        let (client, connection) =
            tokio_postgres::connect(&self.url("postgres"), tokio_postgres::NoTls)
                .await
                .map_err(|e| fail(format!("cannot connect to the test server: {e}")))?;
        let task = tokio::spawn(connection);
        let created = client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .map_err(|e| fail(format!("CREATE DATABASE {name}: {e}")));
        drop(client);
        let _ = task.await;
        created.map(|()| self.url(&name))
    }

    /// `pg_ctl restart -m fast`: every connection is cut, the data stays, the port too.
    pub fn restart(&self) -> Result<(), HarnessError> {
        self.pg_ctl(&["restart", "-m", "fast", "-w", "-t", "60"], true)?;
        self.stopped.store(false, Ordering::SeqCst);
        self.wait_ready()
    }

    /// `pg_ctl stop -m fast` (once; later calls do nothing).
    pub fn stop(&self) {
        if !self.stopped.swap(true, Ordering::SeqCst) {
            let _ = self.pg_ctl(&["stop", "-m", "fast", "-w", "-t", "60"], false);
        }
    }

    fn initdb(&self) -> Result<(), HarnessError> {
        let data = self.dir.join("data");
        let mut cmd = self.tool("initdb");
        cmd.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut cmd).map(|_| ())
    }

    /// Appends the test settings to `postgresql.conf` (later lines win, so a retry on a
    /// new port just appends again; restart keeps them).
    fn configure(&self) -> Result<(), HarnessError> {
        use std::io::Write;
        let conf = self.dir.join("data").join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(|e| fail(format!("cannot open {}: {e}", conf.display())))?;
        writeln!(
            file,
            "\n# poigate test harness\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nmax_connections = 300\nfsync = off\nsynchronous_commit = off\nfull_page_writes = off\n",
            self.port,
            self.dir.display()
        )
        .map_err(|e| fail(format!("cannot write {}: {e}", conf.display())))
    }

    /// Runs `pg_ctl` on the cluster; `with_log` sends the server's output to `server.log`.
    fn pg_ctl(&self, args: &[&str], with_log: bool) -> Result<(), HarnessError> {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D").arg(self.dir.join("data")).args(args);
        if with_log {
            cmd.arg("-l").arg(self.dir.join("server.log"));
        }
        run(&mut cmd).map(|_| ())
    }

    /// Polls `pg_isready` until the server accepts connections, up to [`READY_DEADLINE`].
    fn wait_ready(&self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-t", "1"])
                .output()
                .map(|o| o.status.success())
                .unwrap_or(false);
            if ready {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(fail(format!(
                    "the server on port {} was not ready within {} s; log: {}",
                    self.port,
                    READY_DEADLINE.as_secs(),
                    self.log_tail()
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A server tool, run as `postgres` when we are root, in the server's directory.
    fn tool(&self, name: &str) -> Command {
        let program = self.bindir.join(name);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        };
        cmd.current_dir(&self.dir);
        cmd
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join(" | ")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The shared server's fresh database URL, or `None` when the test should skip (the skip
/// line is printed). Panics when PostgreSQL is required but missing or broken.
pub async fn fresh_database() -> Option<String> {
    let server = PgServer::shared()?;
    match server.create_database().await {
        Ok(url) => Some(url),
        Err(e) => panic!("{e}"),
    }
}

/// Prints [`SKIP_LINE`] where a developer sees it: straight to stderr, past the test
/// harness's output capture (which would hide it for a passing test).
pub fn print_skip_line() {
    use std::io::Write;
    let _ = writeln!(std::io::stderr().lock(), "{SKIP_LINE}");
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

fn free_port() -> Result<u16, HarnessError> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| fail(format!("no free port: {e}")))
}

fn fail(message: String) -> HarnessError {
    HarnessError::Failed(message)
}

fn run(cmd: &mut Command) -> Result<Output, HarnessError> {
    let out = cmd
        .output()
        .map_err(|e| fail(format!("cannot run {:?}: {e}", cmd.get_program())))?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(fail(format!(
            "{:?} {:?} failed ({}): {}{}",
            cmd.get_program(),
            cmd.get_args().collect::<Vec<_>>(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim(),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

//! The packages' files against the real binary and the real configuration loader: the
//! Debian package's default configuration, its systemd unit and its asset list, and the
//! Dockerfile's command line, environment and health check. (.ci/run also builds the `.deb`,
//! unpacks it and starts what it installed; no container engine runs here.)

mod support;

use poigate::Config;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(relative: &str) -> String {
    let path = repo().join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn poigate(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_poigate"));
    command.args(args).env_remove("POIGATE_LISTEN");
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("run poigate")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The unit's `[Service]` settings; a key given twice keeps every value, in order.
fn service_settings() -> BTreeMap<String, Vec<String>> {
    let mut section = String::new();
    let mut settings: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in read("packaging/debian/poigate.service").lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
            continue;
        }
        let (key, value) = line.split_once('=').expect("key=value");
        if section == "Service" {
            settings
                .entry(key.trim().to_string())
                .or_default()
                .push(value.trim().to_string());
        }
    }
    settings
}

fn one<'a>(settings: &'a BTreeMap<String, Vec<String>>, key: &str) -> &'a str {
    match settings.get(key).map(Vec::as_slice) {
        Some([value]) => value,
        other => panic!("{key}: expected one value, got {other:?}"),
    }
}

/// `[package.metadata.deb]` of crates/poigate/Cargo.toml.
fn deb_metadata() -> toml::Table {
    let manifest: toml::Table = toml::from_str(&read("crates/poigate/Cargo.toml")).expect("toml");
    manifest["package"]["metadata"]["deb"]
        .as_table()
        .expect("[package.metadata.deb]")
        .clone()
}

/// Where each asset goes in the package, by its source (relative to crates/poigate).
fn deb_assets() -> Vec<(String, String)> {
    deb_metadata()["assets"]
        .as_array()
        .expect("assets")
        .iter()
        .map(|a| {
            let a = a.as_array().expect("[source, destination, mode]");
            let field = |i: usize| a[i].as_str().expect("string").to_string();
            (field(0), field(1))
        })
        .collect()
}

#[test]
fn the_packaged_configuration_is_accepted_and_safe_for_production() {
    let path = repo().join("packaging/poigate.toml");
    let config = Config::from_file(&path).expect("the config loader accepts the packaged file");
    config.validate().expect("valid values");
    assert!(config.listen.ip().is_loopback(), "{}", config.listen);
    assert_eq!(config.listen.port(), 8080);
    assert_eq!(config.data_dir, Path::new("/var/lib/poigate"));
    assert!(!config.demo);
    assert!(!config.webhooks.allow_private_targets);
    assert_eq!(
        config.database.synchronous,
        poigate_store_sqlite::Synchronous::Full
    );
    // The conffile is where the unit reads it.
    let assets = deb_assets();
    assert!(
        assets.contains(&(
            "../../packaging/poigate.toml".into(),
            "etc/poigate/poigate.toml".into()
        )),
        "{assets:?}"
    );
    let conf_files = deb_metadata()["conf-files"].clone();
    assert_eq!(
        conf_files.as_array().map(|a| a.len()),
        Some(1),
        "{conf_files}"
    );
    assert_eq!(conf_files[0].as_str(), Some("/etc/poigate/poigate.toml"));
}

#[test]
fn the_unit_runs_the_packaged_binary_and_configuration_hardened() {
    let s = service_settings();
    assert_eq!(
        one(&s, "ExecStart"),
        "/usr/bin/poigate serve --config /etc/poigate/poigate.toml"
    );
    // The binary is installed where ExecStart looks, the configuration where it points.
    let assets = deb_assets();
    assert!(
        assets.contains(&("target/release/poigate".into(), "usr/bin/".into())),
        "{assets:?}"
    );
    // Data where the packaged configuration keeps it; configuration where ExecStart reads.
    assert_eq!(one(&s, "StateDirectory"), "poigate");
    assert_eq!(one(&s, "ConfigurationDirectory"), "poigate");
    let user = one(&s, "User");
    let sysusers = read("packaging/debian/poigate.sysusers");
    let declared = sysusers
        .lines()
        .find(|l| l.starts_with("u "))
        .and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(
        declared,
        Some(user),
        "the unit's user is the one the package creates"
    );
    assert_ne!(user, "root");
    // cargo-deb installs <maintainer-scripts>/poigate.sysusers as
    // /usr/lib/sysusers.d/poigate.conf and runs systemd-sysusers on it in postinst (its
    // other maintainer scripts come from the unit: enable, start, restart, stop).
    assert_eq!(
        deb_metadata()["maintainer-scripts"].as_str(),
        Some("../../packaging/debian/")
    );
    for script in ["preinst", "postinst", "prerm", "postrm"] {
        assert!(
            !repo().join("packaging/debian").join(script).exists(),
            "{script}"
        );
    }
    for (key, value) in [
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("AmbientCapabilities", ""),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("PrivateDevices", "yes"),
        ("ProtectKernelTunables", "yes"),
        ("ProtectKernelModules", "yes"),
        ("ProtectControlGroups", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),
        ("RestrictNamespaces", "yes"),
        ("RestrictSUIDSGID", "yes"),
        ("LockPersonality", "yes"),
        ("MemoryDenyWriteExecute", "yes"),
        ("SystemCallArchitectures", "native"),
        ("KillSignal", "SIGTERM"),
    ] {
        assert_eq!(one(&s, key), value, "{key}");
    }
    // Nothing may be writable beside the state directory.
    for key in ["ReadWritePaths", "ReadWriteDirectories", "DynamicUser"] {
        assert!(!s.contains_key(key), "{key} is set");
    }
    // Every packaged file exists (the binary is built by cargo-deb or before it).
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (source, _) in assets.iter().filter(|(s, _)| !s.starts_with("target/")) {
        assert!(crate_dir.join(source).is_file(), "{source} is missing");
    }
    assert!(
        crate_dir
            .join("../../packaging/debian/poigate.service")
            .is_file()
    );
}

/// Runs the unit's ExecStart, with the repository's copy of the configuration, data in a
/// temporary directory and port 0; then `poigate healthcheck` against it, by URL and by the
/// listen address as the container's HEALTHCHECK does; then again once it has stopped.
#[test]
fn the_packaged_command_line_serves_and_the_healthcheck_sees_it() {
    let settings = service_settings();
    let exec = one(&settings, "ExecStart");
    let mut args: Vec<String> = exec.split_whitespace().skip(1).map(String::from).collect();
    let config_arg = args.iter().position(|a| a == "--config").expect("--config") + 1;
    args[config_arg] = repo()
        .join("packaging/poigate.toml")
        .to_string_lossy()
        .into_owned();
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    let data = tempfile::tempdir().expect("dir");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (gateway, lines) = support::spawn(&args, Some(data.path()), "");
    let url = support::line_where(&lines, |l| {
        l.strip_prefix("poigate listening on ")
            .and_then(|rest| rest.split_whitespace().next())
            .map(String::from)
    });
    assert!(
        data.path().join("poigate.db").is_file(),
        "data in --data-dir"
    );

    let by_url = poigate(&["healthcheck", "--url", &format!("{url}/healthz")], &[]);
    assert!(by_url.status.success(), "{}", text(&by_url.stderr));
    assert!(text(&by_url.stdout).starts_with("healthy: "));

    // As the image runs it: no flags, the address from POIGATE_LISTEN.
    let listen = url.trim_start_matches("http://");
    let port = listen.rsplit(':').next().expect("port");
    let as_image = poigate(
        &["healthcheck"],
        &[("POIGATE_LISTEN", &format!("0.0.0.0:{port}"))],
    );
    assert!(as_image.status.success(), "{}", text(&as_image.stderr));

    let not_health = poigate(&["healthcheck", "--url", &format!("{url}/nothing")], &[]);
    assert!(!not_health.status.success());
    assert!(
        text(&not_health.stderr).contains("404"),
        "{}",
        text(&not_health.stderr)
    );

    drop(gateway);
    let stopped = poigate(&["healthcheck", "--listen", listen], &[]);
    assert_eq!(stopped.status.code(), Some(1));
    let stderr = text(&stopped.stderr);
    assert!(
        stderr.starts_with("unhealthy: ") && stderr.lines().count() == 1,
        "{stderr}"
    );
}

/// The Dockerfile's instructions, continuation lines joined, comments and blank lines
/// dropped: (instruction, arguments).
fn dockerfile() -> Vec<(String, String)> {
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(trimmed);
                joined.push(std::mem::take(&mut current));
            }
        }
    }
    joined
        .into_iter()
        .map(|l| {
            let (op, rest) = l.split_once(char::is_whitespace).expect("instruction");
            (op.to_ascii_uppercase(), rest.trim().to_string())
        })
        .collect()
}

#[test]
fn the_dockerfile_builds_locked_runs_unprivileged_and_checks_health() {
    let instructions = dockerfile();
    let all = |op: &str| -> Vec<&str> {
        instructions
            .iter()
            .filter(|(o, _)| o == op)
            .map(|(_, a)| a.as_str())
            .collect()
    };
    let last = |op: &str| *all(op).last().unwrap_or_else(|| panic!("no {op}"));
    let froms = all("FROM");
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(froms[0].starts_with("rust:1-bookworm AS "), "{froms:?}");
    assert_eq!(froms[1], "debian:bookworm-slim");
    assert!(
        all("RUN")
            .iter()
            .any(|r| r.contains("cargo build --release --locked -p poigate")),
        "release build with the lock file"
    );
    // The binary copied from the build stage is the one cargo built there.
    let build_dir = all("WORKDIR")[0];
    let copied = last("COPY");
    assert_eq!(
        copied,
        format!("--from=build {build_dir}/target/release/poigate /usr/local/bin/poigate")
    );
    let user = last("USER");
    let uid = user.split(':').next().expect("uid");
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "a numeric non-root user: {user}"
    );
    assert_eq!(last("VOLUME"), r#"["/var/lib/poigate"]"#);
    assert_eq!(last("EXPOSE"), "8080");
    assert_eq!(last("ENTRYPOINT"), r#"["poigate"]"#);
    assert_eq!(last("CMD"), r#"["serve"]"#);
    assert!(
        last("HEALTHCHECK").ends_with(r#"CMD ["poigate", "healthcheck"]"#),
        "{}",
        last("HEALTHCHECK")
    );
    let env: BTreeMap<&str, &str> = all("ENV")
        .iter()
        .flat_map(|e| e.split_whitespace())
        .map(|pair| pair.split_once('=').expect("ENV name=value"))
        .collect();
    assert_eq!(env.get("POIGATE_LISTEN"), Some(&"0.0.0.0:8080"));
    assert_eq!(env.get("POIGATE_DATA_DIR"), Some(&"/var/lib/poigate"));
    // Every variable the image sets is one `serve` reads (a misspelt one would be ignored).
    let help = text(&poigate(&["serve", "--help"], &[]).stdout);
    for name in env.keys() {
        assert!(
            help.contains(&format!("[env: {name}")),
            "serve ignores {name}"
        );
    }
    let help = text(&poigate(&["healthcheck", "--help"], &[]).stdout);
    assert!(help.contains("[env: POIGATE_LISTEN"), "{help}");
}

//! HTTPS for the API listener: a certificate chain and key from PEM files
//! (`--tls-cert`/`--tls-key`, `[tls] cert`/`key`), or for development a self-signed
//! certificate (`--tls-self-signed`, `[tls] self_signed`) kept in the data directory so
//! that clients trust it once:
//!
//! - `<data dir>/tls/self-signed-cert.pem`: the certificate, for clients to trust
//!   (`NODE_EXTRA_CA_CERTS`, `curl --cacert`, `SSL_CERT_FILE` …);
//! - `<data dir>/tls/self-signed-key.pem`: its private key (mode 0600).
//!
//! Both are made on the first start and reused afterwards (a new certificate every start
//! would make every client re-trust it). The certificate names `localhost`, `127.0.0.1` and
//! `::1`, and the listen address when it is a specific one. rustls with the `ring`
//! provider, TLS 1.2 and 1.3, HTTP/1.1 (ALPN `http/1.1`).

use crate::config::TlsSettings;
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::TlsAcceptor;

/// Where the self-signed certificate of a data directory lives.
pub fn self_signed_cert_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("self-signed-cert.pem")
}

fn self_signed_key_path(data_dir: &Path) -> PathBuf {
    data_dir.join("tls").join("self-signed-key.pem")
}

/// What the listener serves with.
pub struct Tls {
    pub acceptor: TlsAcceptor,
    /// The self-signed certificate's file, for clients to trust (`None` with a given one).
    pub self_signed_cert: Option<PathBuf>,
}

/// The TLS set-up `settings` ask for (`None`: plain HTTP).
pub fn load(
    settings: &TlsSettings,
    data_dir: &Path,
    listen: SocketAddr,
) -> anyhow::Result<Option<Tls>> {
    let (chain, key, self_signed_cert) = match (&settings.cert, &settings.key, settings.self_signed)
    {
        (Some(cert), Some(key), false) => {
            let (chain, key) = read_pem(cert, key)?;
            (chain, key, None)
        }
        (None, None, true) => {
            let (chain, key) = self_signed(data_dir, listen)?;
            (chain, key, Some(self_signed_cert_path(data_dir)))
        }
        (None, None, false) => return Ok(None),
        _ => anyhow::bail!(
            "TLS takes either a certificate and its key (--tls-cert and --tls-key) or --tls-self-signed"
        ),
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate does not match its key, or is not usable")?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(Tls {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        self_signed_cert,
    }))
}

fn read_pem(
    cert: &Path,
    key: &Path,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let chain = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read the TLS certificate {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("{} is not a PEM certificate chain", cert.display()))?;
    anyhow::ensure!(
        !chain.is_empty(),
        "{} holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)",
        cert.display()
    );
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read a PEM private key (PKCS#8, PKCS#1 or SEC1) from {}",
            key.display()
        )
    })?;
    Ok((chain, key))
}

/// The data directory's self-signed certificate: read when it exists, made otherwise.
fn self_signed(
    data_dir: &Path,
    listen: SocketAddr,
) -> anyhow::Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let cert_path = self_signed_cert_path(data_dir);
    let key_path = self_signed_key_path(data_dir);
    if cert_path.exists() && key_path.exists() {
        return read_pem(&cert_path, &key_path);
    }
    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    if !listen.ip().is_unspecified() && !listen.ip().is_loopback() {
        names.push(listen.ip().to_string());
    }
    let certified = rcgen::generate_simple_self_signed(names)
        .context("cannot make a self-signed certificate")?;
    let dir = cert_path
        .parent()
        .context("the certificate path has a directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_private(&key_path, certified.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, certified.cert.pem())
        .with_context(|| format!("cannot write {}", cert_path.display()))?;
    tracing::info!(cert = %cert_path.display(), "made a self-signed TLS certificate for development");
    read_pem(&cert_path, &key_path)
}

/// Writes a file only its owner can read.
fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_certificate_is_made_once_and_reused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        let settings = TlsSettings {
            self_signed: true,
            ..TlsSettings::default()
        };
        let first = load(&settings, dir.path(), listen)?.context("tls")?;
        let path = first.self_signed_cert.context("a certificate path")?;
        let pem = std::fs::read_to_string(&path)?;
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"), "{pem}");
        let again = load(&settings, dir.path(), listen)?.context("tls")?;
        assert_eq!(again.self_signed_cert.as_deref(), Some(path.as_path()));
        assert_eq!(std::fs::read_to_string(&path)?, pem);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(self_signed_key_path(dir.path()))?
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{mode:o}");
        }
        Ok(())
    }

    #[test]
    fn half_a_configuration_is_refused() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        let only_cert = TlsSettings {
            cert: Some(dir.path().join("c.pem")),
            ..TlsSettings::default()
        };
        assert!(load(&only_cert, dir.path(), listen).is_err());
        let missing = TlsSettings {
            cert: Some(dir.path().join("c.pem")),
            key: Some(dir.path().join("k.pem")),
            self_signed: false,
        };
        let err = load(&missing, dir.path(), listen)
            .err()
            .context("an error")?;
        assert!(format!("{err:#}").contains("c.pem"), "{err:#}");
        assert!(load(&TlsSettings::default(), dir.path(), listen)?.is_none());
        Ok(())
    }
}

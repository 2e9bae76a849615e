//! TLS for Redis connections: the `--tls*` flags, the client configuration built from them
//! (rustls with the `ring` provider), and the stream a connection talks through, plain TCP or
//! TLS over it. Key files are read once and never printed.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// TLS flags of every Redis source.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// Talk to the servers over TLS (their `tls-port`); implied by the other --tls-* flags.
    #[arg(
        long,
        env = "RDBINSIGHT_REDIS_TLS",
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub tls: bool,
    /// PEM file of the CA certificates the servers' certificates must chain to (default: the
    /// Mozilla roots built in).
    #[arg(long, value_name = "PATH", env = "RDBINSIGHT_REDIS_TLS_CA_CERT")]
    pub tls_ca_cert: Option<PathBuf>,
    /// PEM client certificate (with its chain), for servers with `tls-auth-clients yes`.
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls_key",
        env = "RDBINSIGHT_REDIS_TLS_CERT"
    )]
    pub tls_cert: Option<PathBuf>,
    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        value_name = "PATH",
        requires = "tls_cert",
        env = "RDBINSIGHT_REDIS_TLS_KEY"
    )]
    pub tls_key: Option<PathBuf>,
    /// Name the servers' certificates must carry, sent as SNI (default: the host of each
    /// address, or the hostname a cluster node announces; nodes are found by IP, so without
    /// announced hostnames their certificates need IP names or this).
    #[arg(long, value_name = "NAME", env = "RDBINSIGHT_REDIS_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
    /// Accept any server certificate: the traffic is still encrypted, but whoever sits between
    /// can read it. For tests and throwaway servers only.
    #[arg(
        long,
        env = "RDBINSIGHT_REDIS_TLS_INSECURE",
        value_parser = clap::builder::BoolishValueParser::new(),
        conflicts_with_all = ["tls_ca_cert", "tls_server_name"]
    )]
    pub tls_insecure: bool,
}

/// As printed by `--print-config`: `tls` says whether TLS is on, also when another flag
/// implied it; files are shown by path only.
impl Serialize for TlsArgs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("TlsArgs", 6)?;
        s.serialize_field("tls", &self.enabled())?;
        s.serialize_field("tls_ca_cert", &self.tls_ca_cert)?;
        s.serialize_field("tls_cert", &self.tls_cert)?;
        s.serialize_field("tls_key", &self.tls_key)?;
        s.serialize_field("tls_server_name", &self.tls_server_name)?;
        s.serialize_field("tls_insecure", &self.tls_insecure)?;
        s.end()
    }
}

impl TlsArgs {
    /// Whether TLS was asked for, by `--tls` or any other TLS flag.
    pub fn enabled(&self) -> bool {
        self.tls
            || self.tls_ca_cert.is_some()
            || self.tls_cert.is_some()
            || self.tls_server_name.is_some()
            || self.tls_insecure
    }

    /// The client settings, or `None` without TLS. Reads the certificate and key files.
    pub fn settings(&self) -> Result<Option<Arc<TlsSettings>>> {
        if !self.enabled() {
            return Ok(None);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS: no protocol version in common with the crypto provider")?;
        let builder = if self.tls_insecure {
            tracing::warn!(
                operation = "connect",
                "--tls-insecure: servers' certificates are not verified"
            );
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)))
        } else {
            builder.with_root_certificates(self.roots()?)
        };
        let config = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => builder
                .with_client_auth_cert(read_certificates(cert)?, read_key(key)?)
                .with_context(|| {
                    format!(
                        "TLS: the client certificate {} does not go with the key {}",
                        cert.display(),
                        key.display()
                    )
                })?,
            _ => builder.with_no_client_auth(),
        };
        let server_name = match &self.tls_server_name {
            Some(name) => Some(
                ServerName::try_from(name.clone())
                    .map_err(|_| anyhow!("--tls-server-name {name:?} is not a DNS name or IP"))?,
            ),
            None => None,
        };
        Ok(Some(Arc::new(TlsSettings {
            config: Arc::new(config),
            server_name,
        })))
    }

    fn roots(&self) -> Result<RootCertStore> {
        let mut roots = RootCertStore::empty();
        match &self.tls_ca_cert {
            Some(path) => {
                for cert in read_certificates(path)? {
                    roots.add(cert).with_context(|| {
                        format!("TLS: a CA certificate in {} is not usable", path.display())
                    })?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        Ok(roots)
    }
}

/// Every certificate of a PEM file; none is an error naming the file.
fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| anyhow!("TLS: cannot read certificates from {}: {e}", path.display()))?;
    if certs.is_empty() {
        bail!("TLS: no PEM certificate in {}", path.display());
    }
    Ok(certs)
}

/// The first private key of a PEM file. The error names the file, never its contents.
fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        anyhow!(
            "TLS: cannot read a private key from {}: {e}",
            path.display()
        )
    })
}

/// What every TLS connection of a run is made with.
pub struct TlsSettings {
    config: Arc<ClientConfig>,
    server_name: Option<ServerName<'static>>,
}

/// Shows the server name only: the configuration holds the client's private key.
impl std::fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsSettings")
            .field("server_name", &self.server_name)
            .finish_non_exhaustive()
    }
}

impl TlsSettings {
    /// These settings checking certificates against `name` unless `--tls-server-name` gave
    /// one for all servers.
    pub fn with_default_name(self: &Arc<Self>, name: &str) -> Result<Arc<Self>> {
        if self.server_name.is_some() {
            return Ok(self.clone());
        }
        let name = ServerName::try_from(name.to_string())
            .map_err(|_| anyhow!("announced hostname {name:?} is not a DNS name or IP"))?;
        Ok(Arc::new(Self {
            config: self.config.clone(),
            server_name: Some(name),
        }))
    }

    /// Runs the TLS handshake over a connected socket to `addr` (host:port; the host is the
    /// name checked unless `--tls-server-name` was given), waiting at most `timeout` for the
    /// server's answers; the socket's read timeout is put back after.
    pub fn handshake(&self, addr: &str, mut tcp: TcpStream, timeout: Duration) -> Result<Stream> {
        let name = match &self.server_name {
            Some(name) => name.clone(),
            None => host_name(addr)?,
        };
        let mut conn = ClientConnection::new(self.config.clone(), name)
            .with_context(|| format!("{addr}: cannot start a TLS session"))?;
        let io_timeout = tcp.read_timeout()?;
        tcp.set_read_timeout(Some(timeout))?;
        while conn.is_handshaking() {
            if let Err(e) = conn.complete_io(&mut tcp) {
                let why = match e.kind() {
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => format!(
                        "no answer within {} s (is this the server's tls-port?)",
                        timeout.as_secs()
                    ),
                    io::ErrorKind::UnexpectedEof | io::ErrorKind::ConnectionReset => {
                        "the server closed the connection (is this its tls-port?)".to_string()
                    }
                    _ => describe(&e),
                };
                bail!("{addr}: TLS handshake failed: {why}");
            }
        }
        tcp.set_read_timeout(io_timeout)?;
        Ok(Stream::Tls(Box::new(StreamOwned::new(conn, tcp))))
    }
}

/// An I/O error of a TLS stream, with a hint when it is an alert whose cause is known.
fn describe(e: &io::Error) -> String {
    use rustls::AlertDescription as Alert;
    let Some(tls) = e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    else {
        return e.to_string();
    };
    let hint = match tls {
        rustls::Error::AlertReceived(Alert::CertificateRequired | Alert::HandshakeFailure) => {
            " (does the server want a client certificate? --tls-cert, --tls-key)"
        }
        rustls::Error::AlertReceived(Alert::UnknownCA | Alert::BadCertificate) => {
            " (the server does not trust --tls-cert)"
        }
        _ => "",
    };
    format!("{tls}{hint}")
}

/// The server name of a `host:port` address (`[v6]:port` too).
fn host_name(addr: &str) -> Result<ServerName<'static>> {
    let host = match addr.rsplit_once(':') {
        Some((host, port)) if port.parse::<u16>().is_ok() => host,
        _ => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|_| {
        anyhow!("{addr}: {host:?} is not a name a certificate can carry (--tls-server-name)")
    })
}

/// A connection's byte stream: plain TCP, or TLS over TCP.
pub enum Stream {
    /// Plain TCP.
    Plain(TcpStream),
    /// TLS over TCP.
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The TCP socket underneath (for timeouts).
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => s.get_ref(),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            // A server that closes without TLS's close_notify ends the stream like a plain
            // close: every payload here has its own length or end mark, and the readers
            // above say how much arrived.
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                Err(e) if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
                    Err(io::Error::new(e.kind(), format!("TLS: {}", describe(&e))))
                }
                other => other,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// `--tls-insecure`: any certificate is accepted, but the handshake's signatures are still
/// checked (so the session keys are the server's).
#[derive(Debug)]
struct AnyServerCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_names_of_addresses() {
        for (addr, want) in [
            ("localhost:6379", "localhost"),
            ("127.0.0.1:6379", "127.0.0.1"),
            ("[::1]:6379", "::1"),
            ("redis.example.com:6380", "redis.example.com"),
        ] {
            let name = host_name(addr).unwrap();
            assert_eq!(name.to_str(), want, "{addr}");
        }
        assert!(host_name("bad host:6379").is_err());
    }

    #[test]
    fn tls_is_off_unless_a_flag_asks_for_it() {
        assert!(TlsArgs::default().settings().unwrap().is_none());
        let insecure = TlsArgs {
            tls_insecure: true,
            ..TlsArgs::default()
        };
        assert!(insecure.settings().unwrap().is_some());
    }

    #[test]
    fn printed_config_says_tls_is_on_when_a_flag_implies_it() {
        let args = TlsArgs {
            tls_ca_cert: Some("ca.pem".into()),
            ..TlsArgs::default()
        };
        let printed = serde_json::to_value(&args).unwrap();
        assert_eq!(printed["tls"], true);
        assert_eq!(printed["tls_ca_cert"], "ca.pem");
        assert_eq!(
            serde_json::to_value(TlsArgs::default()).unwrap()["tls"],
            false
        );
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls");
        let args = TlsArgs {
            tls_ca_cert: Some(dir.join("test-ca.crt")),
            tls_cert: Some(dir.join("client.crt")),
            tls_key: Some(dir.join("client.key")),
            ..TlsArgs::default()
        };
        let settings = args.settings().unwrap().unwrap();
        let shown = format!("{settings:?}");
        assert_eq!(shown, "TlsSettings { server_name: None, .. }");
    }

    #[test]
    fn unreadable_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let args = TlsArgs {
            tls_ca_cert: Some(empty.clone()),
            ..TlsArgs::default()
        };
        let err = format!("{:#}", args.settings().unwrap_err());
        assert!(
            err.contains("no PEM certificate") && err.contains("empty.pem"),
            "{err}"
        );
        let args = TlsArgs {
            tls_ca_cert: Some(dir.path().join("missing.pem")),
            ..TlsArgs::default()
        };
        let err = format!("{:#}", args.settings().unwrap_err());
        assert!(err.contains("missing.pem"), "{err}");
    }
}

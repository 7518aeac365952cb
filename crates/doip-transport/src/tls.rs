//! rustls configuration for DoIP over TLS (ISO 13400-2:2019, port 3496).
//!
//! Three client configurations: [`platform_client_config`] verifies the entity's certificate
//! against the platform's trusted roots (doipclient's `use_secure=True`);
//! [`client_config`] against roots the caller provides (an OEM's PKI); accepting any
//! certificate is possible only through the clearly named
//! [`insecure_test_bench_client_config`], for benches whose ECUs have self-signed
//! certificates. Key logging (for Wireshark) is off unless the caller enables it.

use std::fmt::{self, Write as _};
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    ClientConfig, DigitallySignedStruct, KeyLog, RootCertStore, ServerConfig, SignatureScheme,
};

/// The port of DoIP over TLS.
pub const TLS_PORT: u16 = 3496;

/// The crypto provider doip-transport uses (ring).
#[must_use]
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A client configuration that verifies the server against `roots` (TLS 1.2 and 1.3).
///
/// # Errors
/// rustls' error if the provider supports no safe protocol version (it does).
pub fn client_config(roots: RootCertStore) -> Result<ClientConfig, rustls::Error> {
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client configuration that verifies the server against the platform's trusted roots (the
/// operating system's certificate store, as Python's `ssl.create_default_context()` does).
///
/// # Errors
/// `rustls::Error::General` when the platform has no usable root certificate.
pub fn platform_client_config() -> Result<ClientConfig, rustls::Error> {
    let found = rustls_native_certs::load_native_certs();
    for e in &found.errors {
        log::debug!("platform root certificates: {e}");
    }
    let mut roots = RootCertStore::empty();
    let (added, ignored) = roots.add_parsable_certificates(found.certs);
    if ignored > 0 {
        log::debug!("{ignored} platform root certificates could not be used");
    }
    if added == 0 {
        return Err(rustls::Error::General(format!(
            "no trusted root certificates found on this platform ({} errors)",
            found.errors.len()
        )));
    }
    client_config(roots)
}

/// A client configuration that accepts **any** server certificate (handshake signatures are
/// still checked). Only for test benches whose ECUs present self-signed certificates: it
/// gives no protection against an impostor.
///
/// # Errors
/// rustls' error if the provider supports no safe protocol version (it does).
pub fn insecure_test_bench_client_config() -> Result<ClientConfig, rustls::Error> {
    let provider = provider();
    Ok(ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
        .with_no_client_auth())
}

/// A server (entity) configuration presenting `chain` with `key`.
///
/// # Errors
/// rustls' error when the key does not match or is unsupported.
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<ServerConfig, rustls::Error> {
    ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
}

/// Where TLS session secrets are written in the NSS key log format that Wireshark reads.
/// Attach it to a config with `config.key_log = Arc::new(...)`; nothing is logged otherwise.
pub struct KeyLogFile {
    path: PathBuf,
    file: Mutex<Option<File>>,
}

impl KeyLogFile {
    /// Appends secrets to `path` (created on first use).
    #[must_use]
    pub fn new(path: impl AsRef<Path>) -> Self {
        Self { path: path.as_ref().to_path_buf(), file: Mutex::new(None) }
    }

    /// A key log at the path in the `SSLKEYLOGFILE` environment variable, if it is set.
    /// Reading the variable is the caller's explicit opt-in; the default configs never do.
    #[must_use]
    pub fn from_env() -> Option<Self> {
        std::env::var_os("SSLKEYLOGFILE").map(Self::new)
    }
}

impl fmt::Debug for KeyLogFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyLogFile").field("path", &self.path).finish_non_exhaustive()
    }
}

impl KeyLog for KeyLogFile {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let hex = |bytes: &[u8]| {
            bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
                let _ = write!(s, "{b:02x}");
                s
            })
        };
        let line = format!("{label} {} {}\n", hex(client_random), hex(secret));
        let Ok(mut file) = self.file.lock() else { return };
        if file.is_none() {
            match OpenOptions::new().create(true).append(true).open(&self.path) {
                Ok(f) => *file = Some(f),
                Err(e) => {
                    log::warn!("cannot open key log {}: {e}", self.path.display());
                    return;
                }
            }
        }
        if let Some(f) = file.as_mut()
            && let Err(e) = f.write_all(line.as_bytes())
        {
            log::warn!("cannot write key log {}: {e}", self.path.display());
        }
    }

    fn will_log(&self, _label: &str) -> bool {
        true
    }
}

/// The server name rustls checks the certificate against, from a host name or IP text.
///
/// # Errors
/// When `name` is neither a DNS name nor an IP address.
pub fn server_name(
    name: &str,
) -> Result<ServerName<'static>, rustls::pki_types::InvalidDnsNameError> {
    ServerName::try_from(name.to_owned())
}

#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
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
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! `use_secure` as a rustls client configuration: what the Python side read off an
//! `ssl.SSLContext` (verification on or off, its CA certificates, its key-log file) or `True`
//! (the platform's roots).

use std::sync::Arc;

use doip_transport::TlsClient;
use doip_transport::rustls::RootCertStore;
use doip_transport::rustls::pki_types::CertificateDer;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

/// The TLS settings the Python side passes: `(verify, ca_certs_der, keylog_path,
/// server_hostname)`.
pub(crate) type TlsSpec = (bool, Vec<Vec<u8>>, Option<String>, String);

/// A rustls client for `spec`: without verification when asked (`ssl.CERT_NONE`); otherwise
/// verified against the context's CA certificates, or the platform's when it has none.
pub(crate) fn client(spec: TlsSpec) -> PyResult<TlsClient> {
    let (verify, cas, keylog, server_name) = spec;
    let invalid = |e: doip_transport::rustls::Error| PyValueError::new_err(format!("TLS: {e}"));
    let mut config = if !verify {
        doip_transport::tls::insecure_test_bench_client_config().map_err(invalid)?
    } else if cas.is_empty() {
        doip_transport::tls::platform_client_config().map_err(invalid)?
    } else {
        let mut roots = RootCertStore::empty();
        for der in cas {
            roots
                .add(CertificateDer::from(der))
                .map_err(|e| PyValueError::new_err(format!("TLS: unusable CA certificate: {e}")))?;
        }
        doip_transport::tls::client_config(roots).map_err(invalid)?
    };
    if let Some(path) = keylog {
        config.key_log = Arc::new(doip_transport::tls::KeyLogFile::new(path));
    }
    let name = doip_transport::tls::server_name(&server_name)
        .map_err(|e| PyValueError::new_err(format!("TLS server name {server_name:?}: {e}")))?;
    Ok(TlsClient::new(Arc::new(config), name))
}

//! TLS trust: the bundled Mozilla roots (webpki-roots, the same for REST and WebSocket on Linux
//! and Windows) plus, when `[exchanges.<name>].ca_file` is set, the certificates of that PEM file
//! (a TLS-inspecting proxy's CA, or a test's local CA). Certificates are always verified, with
//! the host name of the URL (sent as SNI); there is no switch to turn verification off.

use crate::ExchangeError;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use scalp_core::Exchange;
use std::path::Path;
use std::sync::Arc;

/// The certificates of a PEM file; an error names the file when it cannot be read or holds none.
pub fn read_pem_certs(
    exchange: Exchange,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, ExchangeError> {
    let bad = |why: String| ExchangeError::Client {
        exchange,
        msg: format!("ca_file `{}`: {why}", path.display()),
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".into()));
    }
    Ok(certs)
}

/// The rustls client configuration for WebSockets: bundled roots plus `ca_file`'s.
pub fn client_config(
    exchange: Exchange,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, ExchangeError> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    if let Some(p) = ca_file {
        for c in read_pem_certs(exchange, p)? {
            roots.add(c).map_err(|e| ExchangeError::Client {
                exchange,
                msg: format!("ca_file `{}`: {e}", p.display()),
            })?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ExchangeError::Client {
            exchange,
            msg: e.to_string(),
        })?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// Adds `ca_file`'s certificates to a reqwest client's trusted roots (the bundled ones stay).
pub fn add_roots(
    exchange: Exchange,
    mut b: reqwest::ClientBuilder,
    ca_file: Option<&Path>,
) -> Result<reqwest::ClientBuilder, ExchangeError> {
    if let Some(p) = ca_file {
        for c in read_pem_certs(exchange, p)? {
            let cert =
                reqwest::Certificate::from_der(c.as_ref()).map_err(|e| ExchangeError::Client {
                    exchange,
                    msg: format!("ca_file `{}`: {e}", p.display()),
                })?;
            b = b.add_root_certificate(cert);
        }
    }
    Ok(b)
}

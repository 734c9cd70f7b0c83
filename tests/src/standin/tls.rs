//! TLS for the stand-ins: a throw-away local certificate authority and a server certificate for
//! `localhost` signed by it. A test that wants `https://`/`wss://` sets
//! [`StandInConfig::tls`](super::StandInConfig::tls) and points the client's `ca_file` at
//! [`TestCa::ca_pem_path`]; nothing is added to any system trust store.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A local CA and the `localhost` server identity it signed.
#[derive(Clone)]
pub struct TestCa {
    ca_pem_path: PathBuf,
    server: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa")
            .field("ca_pem_path", &self.ca_pem_path)
            .finish()
    }
}

impl TestCa {
    /// Generates the CA (written as PEM to `dir/ca.pem`) and a server certificate valid for the
    /// DNS name `localhost` only.
    pub fn new(dir: &Path) -> TestCa {
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "Scalp Radar test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let ca_key = KeyPair::generate().unwrap();
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let mut leaf = CertificateParams::new(vec!["localhost".to_string()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages.push(KeyUsagePurpose::DigitalSignature);
        leaf.extended_key_usages
            .push(ExtendedKeyUsagePurpose::ServerAuth);
        let leaf_key = KeyPair::generate().unwrap();
        let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();

        let ca_pem_path = dir.join("ca.pem");
        std::fs::write(&ca_pem_path, ca_cert.pem()).unwrap();
        let chain: Vec<CertificateDer<'static>> = vec![leaf_cert.der().clone()];
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        server.alpn_protocols = vec![b"http/1.1".to_vec()];
        TestCa {
            ca_pem_path,
            server: Arc::new(server),
        }
    }

    /// The CA certificate (PEM): what a client's `ca_file` points at.
    pub fn ca_pem_path(&self) -> &Path {
        &self.ca_pem_path
    }

    pub(crate) fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server.clone()
    }
}

/// Serves `router` over TLS on `listener` until the task is dropped; records the SNI name of
/// every handshake in `sni`.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    cfg: Arc<rustls::ServerConfig>,
    sni: Arc<std::sync::Mutex<Vec<Option<String>>>>,
    failed_handshakes: Arc<std::sync::atomic::AtomicU64>,
) {
    let acceptor = tokio_rustls::TlsAcceptor::from(cfg);
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        let sni = sni.clone();
        let failed = failed_handshakes.clone();
        tokio::spawn(async move {
            let tls = match acceptor.accept(tcp).await {
                Ok(t) => t,
                Err(_) => {
                    failed.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
            };
            sni.lock()
                .unwrap()
                .push(tls.get_ref().1.server_name().map(str::to_string));
            let svc = hyper_util::service::TowerToHyperService::new(router);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .with_upgrades()
                .await;
        });
    }
}

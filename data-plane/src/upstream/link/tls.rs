//! A rustls client config from a backend's TLS settings, for connections
//! reqwest does not make (WebSocket): the same rules as its HTTP client.

use std::sync::Arc;

use rustls_platform_verifier::BuilderVerifierExt;
use tokio_rustls::rustls::{
    self, ClientConfig, DigitallySignedStruct, SignatureScheme,
    client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier},
    crypto::CryptoProvider,
    pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime, pem::PemObject},
};

use super::{LinkError, TlsSettings};

pub(super) fn rustls_config(tls: &TlsSettings, key_pem: &str, http2: bool) -> Result<Arc<ClientConfig>, LinkError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| LinkError(format!("{what}: {e}"));
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS versions", &e))?;
    let builder = if tls.insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    } else if !tls.ca_pem.trim().is_empty() {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(tls.ca_pem.as_bytes()) {
            let cert = cert.map_err(|e| bad("the CA bundle is not PEM certificates", &e))?;
            roots
                .add(cert)
                .map_err(|e| bad("a CA certificate cannot be used", &e))?;
        }
        if roots.is_empty() {
            return Err(LinkError("the CA bundle holds no PEM certificate".into()));
        }
        builder.with_root_certificates(roots)
    } else {
        builder
            .with_platform_verifier()
            .map_err(|e| bad("the platform's certificate roots", &e))?
    };
    let mut config = if tls.client_cert_pem.trim().is_empty() {
        builder.with_no_client_auth()
    } else {
        let chain = CertificateDer::pem_slice_iter(tls.client_cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad("the client certificate is not PEM", &e))?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).map_err(|e| bad("the client key is not PEM", &e))?;
        builder
            .with_client_auth_cert(chain, key)
            .map_err(|e| bad("the client certificate and key do not fit", &e))?
    };
    config.alpn_protocols = if http2 { vec![] } else { vec![b"http/1.1".to_vec()] };
    Ok(Arc::new(config))
}

/// `insecure_skip_verify`: any certificate is taken, though the handshake
/// itself is still checked.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
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
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

//! TLS for lockdown sessions and services. The computer is the TLS client and presents its
//! host certificate; the phone's certificate is not verified, as no real client verifies it
//! (its names are empty, so no standard check could pass) (docs/protocol.md §2.6).

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};

use crate::error::{Error, Result};
use crate::pair_record::PairRecord;

pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts the phone's certificate, but still checks that the handshake is signed by the key
/// in it, so the bytes on the wire come from whoever holds that key.
#[derive(Debug)]
struct AcceptDeviceCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for AcceptDeviceCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// A certificate from a pair record's PEM.
pub fn certificate(pem: &[u8]) -> Result<CertificateDer<'static>> {
    CertificateDer::from_pem_slice(pem).map_err(|e| Error::Certificate(format!("bad certificate PEM: {e}")))
}

/// A private key from a pair record's PEM (PKCS#8 or PKCS#1).
pub fn private_key(pem: &[u8]) -> Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|e| Error::Certificate(format!("bad private key PEM: {e}")))
}

/// The client configuration for sessions and services with the phone of `record`.
pub fn client_config(record: &PairRecord) -> Result<Arc<ClientConfig>> {
    let provider = provider();
    let verifier = AcceptDeviceCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let host_cert = certificate(&record.host_certificate)?;
    let host_key = private_key(&record.host_private_key)?;
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_client_auth_cert(vec![host_cert], host_key)?;
    // libimobiledevice and pymobiledevice3 send no SNI; the phone does not need one.
    config.enable_sni = false;
    Ok(Arc::new(config))
}

/// The name rustls wants; never sent, since SNI is off.
pub fn server_name() -> ServerName<'static> {
    ServerName::try_from("Device").expect("a valid DNS name")
}

//! Pairing certificates, made as libimobiledevice (OpenSSL builds) and pymobiledevice3 make
//! them (docs/protocol.md §2.5): RSA-2048 root and host keys, SHA-256 signatures, empty subject and
//! issuer names, a self-signed CA root, and host and device certificates signed by the root.
//! The device certificate certifies the phone's own public key (`DevicePublicKey`).

use rcgen::{BasicConstraints, CertificateParams, DistinguishedName, IsCa, KeyPair, KeyUsagePurpose};
use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
use rsa::pkcs8::{DecodePublicKey, EncodePrivateKey, LineEnding};

use crate::error::{Error, Result};

const KEY_BITS: usize = 2048;
const VALIDITY_DAYS: i64 = 3650;

fn cert_err(e: impl std::fmt::Display) -> Error {
    Error::Certificate(e.to_string())
}

/// An RSA private key with the encodings the protocol needs.
pub struct RsaKey {
    private: rsa::RsaPrivateKey,
}

impl RsaKey {
    pub fn generate() -> Result<RsaKey> {
        let private = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, KEY_BITS).map_err(cert_err)?;
        Ok(RsaKey { private })
    }

    /// PKCS#8 `PRIVATE KEY` PEM, as every client stores private keys.
    pub fn private_pkcs8_pem(&self) -> Result<String> {
        Ok(self.private.to_pkcs8_pem(LineEnding::LF).map_err(cert_err)?.to_string())
    }

    pub fn private_pkcs8_der(&self) -> Result<Vec<u8>> {
        Ok(self.private.to_pkcs8_der().map_err(cert_err)?.as_bytes().to_vec())
    }

    /// PKCS#1 `RSA PUBLIC KEY` PEM: the form of lockdownd's `DevicePublicKey`.
    pub fn public_pkcs1_pem(&self) -> Result<String> {
        self.private
            .to_public_key()
            .to_pkcs1_pem(LineEnding::LF)
            .map_err(cert_err)
    }

    fn signing_key(&self) -> Result<KeyPair> {
        let der = self.private_pkcs8_der()?;
        KeyPair::from_pkcs8_der_and_sign_algo(&der.as_slice().into(), &rcgen::PKCS_RSA_SHA256).map_err(cert_err)
    }
}

/// The phone's RSA public key as rcgen needs it: PKCS#1 DER under rsaEncryption.
struct DevicePublicKey {
    pkcs1_der: Vec<u8>,
}

impl rcgen::PublicKeyData for DevicePublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.pkcs1_der
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

/// Reads `DevicePublicKey`: PKCS#1 PEM as phones send it, or SubjectPublicKeyInfo PEM.
fn parse_device_public_key(pem: &[u8]) -> Result<DevicePublicKey> {
    let text = std::str::from_utf8(pem).map_err(|_| Error::Protocol("DevicePublicKey is not PEM text".into()))?;
    let key = rsa::RsaPublicKey::from_pkcs1_pem(text.trim())
        .or_else(|_| rsa::RsaPublicKey::from_public_key_pem(text.trim()))
        .map_err(|e| Error::Protocol(format!("DevicePublicKey is not an RSA public key: {e}")))?;
    let pkcs1_der = key.to_pkcs1_der().map_err(cert_err)?.as_bytes().to_vec();
    Ok(DevicePublicKey { pkcs1_der })
}

/// The certificates and keys of a new pairing, all PEM.
pub struct PairingCertificates {
    pub root_certificate: String,
    pub root_private_key: String,
    pub host_certificate: String,
    pub host_private_key: String,
    pub device_certificate: String,
}

fn base_params(is_ca: IsCa) -> CertificateParams {
    let now = time::OffsetDateTime::now_utc();
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.serial_number = Some(1u64.into());
    params.not_before = now - time::Duration::minutes(1);
    params.not_after = now + time::Duration::days(VALIDITY_DAYS);
    params.is_ca = is_ca;
    params
}

fn leaf_params() -> CertificateParams {
    let mut params = base_params(IsCa::ExplicitNoCa);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
    params
}

/// Makes a root, a host and a device certificate for the phone whose `DevicePublicKey`
/// (PEM) is given.
pub fn generate_certificates(device_public_key_pem: &[u8]) -> Result<PairingCertificates> {
    let device_key = parse_device_public_key(device_public_key_pem)?;
    let root_key = RsaKey::generate()?;
    let host_key = RsaKey::generate()?;
    let root_signing = root_key.signing_key()?;
    let host_signing = host_key.signing_key()?;

    let root_params = base_params(IsCa::Ca(BasicConstraints::Unconstrained));
    let root_cert = root_params.self_signed(&root_signing).map_err(cert_err)?;
    let issuer = rcgen::Issuer::from_params(&root_params, &root_signing);
    let host_cert = leaf_params().signed_by(&host_signing, &issuer).map_err(cert_err)?;
    let device_cert = leaf_params().signed_by(&device_key, &issuer).map_err(cert_err)?;

    Ok(PairingCertificates {
        root_certificate: root_cert.pem(),
        root_private_key: root_key.private_pkcs8_pem()?,
        host_certificate: host_cert.pem(),
        host_private_key: host_key.private_pkcs8_pem()?,
        device_certificate: device_cert.pem(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certificates_have_the_shape_real_clients_make() {
        let device = RsaKey::generate().unwrap();
        let pem = device.public_pkcs1_pem().unwrap();
        assert!(pem.starts_with("-----BEGIN RSA PUBLIC KEY-----"));
        let certs = generate_certificates(pem.as_bytes()).unwrap();
        for cert in [
            &certs.root_certificate,
            &certs.host_certificate,
            &certs.device_certificate,
        ] {
            assert!(cert.starts_with("-----BEGIN CERTIFICATE-----"));
        }
        assert!(certs.host_private_key.starts_with("-----BEGIN PRIVATE KEY-----"));
        // The device certificate certifies the device's key: its DER contains the PKCS#1 key.
        let device_der = pem_body(&certs.device_certificate);
        let device_pkcs1 = device.private.to_public_key().to_pkcs1_der().unwrap();
        assert!(contains(&device_der, device_pkcs1.as_bytes()));
        // Empty subject and issuer: the DER has no CommonName OID (2.5.4.3) anywhere.
        assert!(!contains(&device_der, &[0x06, 0x03, 0x55, 0x04, 0x03]));
    }

    #[test]
    fn rejects_garbage_device_keys() {
        assert!(generate_certificates(b"not a key").is_err());
        assert!(generate_certificates(&[0xff, 0xfe]).is_err());
    }

    fn pem_body(pem: &str) -> Vec<u8> {
        use rustls::pki_types::{CertificateDer, pem::PemObject};
        CertificateDer::from_pem_slice(pem.as_bytes()).unwrap().to_vec()
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }
}

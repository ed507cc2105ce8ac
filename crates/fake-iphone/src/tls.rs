//! The phone's side of TLS: the server of a lockdown session, fed one record at a time from
//! the socket so that nothing past the TLS stream is swallowed when a client turns back to
//! plaintext after `StopSession` (docs/protocol.md §2.6).

use std::io::{self, Read, Write};
use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, ServerConfig, ServerConnection, SignatureScheme};
use usbmux::UsbmuxStream;

/// Asks for the computer's certificate and accepts any: pairing certificates have empty
/// names that no standard verifier passes. The session code then compares it with the
/// certificates the phone was given at pairing.
#[derive(Debug)]
struct AcceptHostCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AcceptHostCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// Serves the `DeviceCertificate` made at pairing with the phone's own key, as a phone does.
pub fn server_config(
    device_certificate: CertificateDer<'static>,
    device_key_pkcs8: &[u8],
) -> anyhow::Result<Arc<ServerConfig>> {
    let provider = lockdown::tls::provider();
    let verifier = AcceptHostCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(device_key_pkcs8.to_vec()));
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(vec![device_certificate], key)?;
    Ok(Arc::new(config))
}

/// Largest TLS record on the wire: 2^14 plaintext plus expansion (RFC 8446 5.2).
const MAX_RECORD: usize = (1 << 14) + 2048;

/// What came after the session's last TLS record.
pub enum AfterSession {
    /// The client sent close_notify: plaintext follows.
    Plaintext,
    /// The client sent more data inside TLS (it keeps TLS after StopSession).
    StillTls,
    /// The client sent plaintext straight away; these bytes start it.
    PlaintextStartingWith(Vec<u8>),
    Closed,
}

pub struct TlsServer {
    pub conn: ServerConnection,
    pub sock: UsbmuxStream,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl TlsServer {
    /// Runs the handshake on `sock`.
    pub fn accept(config: Arc<ServerConfig>, sock: UsbmuxStream) -> io::Result<TlsServer> {
        let conn = ServerConnection::new(config).map_err(invalid)?;
        let mut tls = TlsServer { conn, sock };
        while tls.conn.is_handshaking() {
            tls.flush_tls()?;
            let header = tls
                .read_header()?
                .ok_or_else(|| invalid("client closed during the TLS handshake"))?;
            tls.feed_record(header)?;
        }
        tls.flush_tls()?;
        Ok(tls)
    }

    pub fn peer_certificate(&self) -> Option<CertificateDer<'static>> {
        self.conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| c.clone().into_owned())
    }

    fn flush_tls(&mut self) -> io::Result<()> {
        while self.conn.wants_write() {
            self.conn.write_tls(&mut self.sock)?;
        }
        self.sock.flush()
    }

    /// Reads a 5-byte record header; `None` at a clean end of stream.
    fn read_header(&mut self) -> io::Result<Option<[u8; 5]>> {
        let mut header = [0u8; 5];
        let mut filled = 0;
        while filled < 5 {
            match self.sock.read(&mut header[filled..])? {
                0 if filled == 0 => return Ok(None),
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        Ok(Some(header))
    }

    /// Reads the body of the record whose header is given and hands exactly that record to
    /// rustls.
    fn feed_record(&mut self, header: [u8; 5]) -> io::Result<()> {
        let length = usize::from(u16::from_be_bytes([header[3], header[4]]));
        if !(0x14..=0x17).contains(&header[0]) || length > MAX_RECORD {
            return Err(invalid("not a TLS record"));
        }
        let mut record = Vec::with_capacity(5 + length);
        record.extend_from_slice(&header);
        record.resize(5 + length, 0);
        self.sock.read_exact(&mut record[5..])?;
        let mut slice = &record[..];
        while !slice.is_empty() {
            self.conn.read_tls(&mut slice)?;
        }
        self.conn.process_new_packets().map_err(invalid)?;
        self.flush_tls()
    }

    /// After the StopSession reply: looks at the next record to learn whether the client
    /// leaves TLS.
    pub fn after_session(&mut self) -> io::Result<AfterSession> {
        let Some(header) = self.read_header()? else {
            return Ok(AfterSession::Closed);
        };
        if !(0x14..=0x17).contains(&header[0]) {
            // A plaintext length prefix never starts with a TLS content type byte.
            return Ok(AfterSession::PlaintextStartingWith(header.to_vec()));
        }
        self.feed_record(header)?;
        let state = self.conn.process_new_packets().map_err(invalid)?;
        if state.peer_has_closed() {
            Ok(AfterSession::Plaintext)
        } else {
            Ok(AfterSession::StillTls)
        }
    }
}

impl Read for TlsServer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.conn.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let Some(header) = self.read_header()? else {
                        return Ok(0);
                    };
                    self.feed_record(header)?;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Write for TlsServer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.conn.writer().write(buf)?;
        self.flush_tls()?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.flush_tls()
    }
}

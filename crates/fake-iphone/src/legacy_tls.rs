//! The TLS of an old iPhone (below iOS 10, docs/protocol.md §2.6), served in the old-iOS
//! mode: TLS 1.0 to 1.2 with CBC suites and RSA key exchange only, through OpenSSL, so a
//! client offering only modern TLS (ECDHE with AEAD) gets the `handshake_failure` such a
//! phone sends, and libimobiledevice's and pymobiledevice3's legacy settings succeed.

use std::io::{self, Read, Write};

use openssl::pkey::PKey;
use openssl::ssl::{Ssl, SslContext, SslMethod, SslStream, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use usbmux::UsbmuxStream;

use crate::tls::AfterSession;

/// RSA key exchange with AES-CBC and SHA-1 MACs, nothing newer; security level 0, which
/// OpenSSL 3 needs for TLS 1.0 and these suites.
const CIPHERS: &str = "AES256-SHA:AES128-SHA:@SECLEVEL=0";

/// The socket, with bytes read ahead to look at handed back first.
#[derive(Debug)]
struct Rewind {
    sock: UsbmuxStream,
    pending: Vec<u8>,
}

impl Read for Rewind {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pending.is_empty() {
            return self.sock.read(buf);
        }
        let n = buf.len().min(self.pending.len());
        buf[..n].copy_from_slice(&self.pending[..n]);
        self.pending.drain(..n);
        Ok(n)
    }
}

impl Write for Rewind {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.sock.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.sock.flush()
    }
}

pub struct LegacyTlsServer {
    stream: SslStream<Rewind>,
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl LegacyTlsServer {
    /// Runs the server handshake on `sock` with the `DeviceCertificate` (DER) made at pairing
    /// and the phone's own key (PKCS#8 DER). The computer's certificate is asked for and
    /// any is accepted; the session code compares it with the paired ones.
    pub fn accept(
        device_certificate: &[u8],
        device_key_pkcs8: &[u8],
        sock: UsbmuxStream,
    ) -> io::Result<LegacyTlsServer> {
        let mut context = SslContext::builder(SslMethod::tls_server()).map_err(invalid)?;
        context.set_min_proto_version(Some(SslVersion::TLS1)).map_err(invalid)?;
        context
            .set_max_proto_version(Some(SslVersion::TLS1_2))
            .map_err(invalid)?;
        context.set_cipher_list(CIPHERS).map_err(invalid)?;
        let certificate = X509::from_der(device_certificate).map_err(invalid)?;
        let key = PKey::private_key_from_pkcs8(device_key_pkcs8).map_err(invalid)?;
        context.set_certificate(&certificate).map_err(invalid)?;
        context.set_private_key(&key).map_err(invalid)?;
        context.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
        let ssl = Ssl::new(&context.build()).map_err(invalid)?;
        let rewind = Rewind {
            sock,
            pending: Vec::new(),
        };
        let stream = ssl.accept(rewind).map_err(invalid)?;
        Ok(LegacyTlsServer { stream })
    }

    /// The computer's certificate (DER), if it presented one.
    pub fn peer_certificate(&self) -> Option<Vec<u8>> {
        self.stream.ssl().peer_certificate()?.to_der().ok()
    }

    /// After the StopSession reply: looks at the next record's header to learn whether the
    /// client leaves TLS. Below TLS 1.3 an alert is visible as one: close_notify.
    pub fn after_session(&mut self) -> io::Result<AfterSession> {
        let mut header = [0u8; 5];
        let mut filled = 0;
        while filled < header.len() {
            match self.stream.get_mut().read(&mut header[filled..])? {
                0 if filled == 0 => return Ok(AfterSession::Closed),
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        if !(0x14..=0x17).contains(&header[0]) {
            return Ok(AfterSession::PlaintextStartingWith(header.to_vec()));
        }
        self.stream.get_mut().pending.extend_from_slice(&header);
        if header[0] != 0x15 {
            return Ok(AfterSession::StillTls);
        }
        // OpenSSL reads that one record and reports close_notify as the end of the stream.
        match self.stream.read(&mut [0u8; 1])? {
            0 => Ok(AfterSession::Plaintext),
            _ => Err(invalid("data after an alert")),
        }
    }

    /// The plain socket, once TLS has ended.
    pub fn into_socket(self) -> io::Result<UsbmuxStream> {
        self.stream.get_ref().sock.try_clone()
    }
}

impl Read for LegacyTlsServer {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for LegacyTlsServer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

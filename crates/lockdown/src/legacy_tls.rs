//! The older TLS of phones below iOS 10 (docs/protocol.md §2.6): TLS 1.0 to 1.2 with the
//! CBC and RSA key exchange suites they offer, through the system's OpenSSL, set up as
//! libimobiledevice and pymobiledevice3 set it up: security level 0 (OpenSSL 3 refuses
//! TLS 1.0 and these suites above it), servers without secure renegotiation allowed, the
//! phone's certificate not verified, no SNI. The computer presents its host certificate.

use std::io;
use std::time::Duration;

use openssl::error::ErrorStack;
use openssl::pkey::PKey;
use openssl::ssl::{HandshakeError, SslConnector, SslMethod, SslOptions, SslStream, SslVerifyMode, SslVersion};
use openssl::x509::X509;
use usbmux::UsbmuxStream;

use crate::error::{Error, Result};
use crate::pair_record::PairRecord;
use crate::session_tls::Offered;

/// What the legacy path offers: every suite with authentication and encryption.
const CIPHERS: &str = "ALL:!aNULL:!eNULL:@SECLEVEL=0";

/// OpenSSL's `SSL_OP_LEGACY_SERVER_CONNECT` (0x4), which the openssl crate does not name:
/// old iOS predates secure renegotiation (RFC 5746), and OpenSSL 3 refuses such servers.
const LEGACY_SERVER_CONNECT: SslOptions = SslOptions::from_bits_retain(0x4);

fn setup(e: ErrorStack) -> Error {
    Error::TlsSetup(e.to_string())
}

/// The connector for sessions and services with the phone of `record`.
pub fn connector(record: &PairRecord) -> Result<SslConnector> {
    let mut builder = SslConnector::builder(SslMethod::tls_client()).map_err(setup)?;
    builder.set_min_proto_version(Some(SslVersion::TLS1)).map_err(setup)?;
    builder.set_max_proto_version(Some(SslVersion::TLS1_2)).map_err(setup)?;
    builder.set_cipher_list(CIPHERS).map_err(setup)?;
    builder.set_options(LEGACY_SERVER_CONNECT);
    builder.set_verify(SslVerifyMode::NONE);
    let certificate = X509::from_pem(&record.host_certificate)
        .map_err(|e| Error::Certificate(format!("bad certificate PEM: {e}")))?;
    let key = PKey::private_key_from_pem(&record.host_private_key)
        .map_err(|e| Error::Certificate(format!("bad private key PEM: {e}")))?;
    builder.set_certificate(&certificate).map_err(setup)?;
    builder.set_private_key(&key).map_err(setup)?;
    Ok(builder.build())
}

/// The client handshake on `stream`; a refusal is [`Error::TlsRefused`] without the iOS
/// version, which the caller knows.
pub fn handshake(connector: &SslConnector, stream: UsbmuxStream, timeout: Duration) -> Result<SslStream<UsbmuxStream>> {
    let session = connector
        .configure()
        .map_err(setup)?
        .use_server_name_indication(false)
        .verify_hostname(false);
    session.connect("", stream).map_err(|e| match e {
        HandshakeError::SetupFailure(stack) => setup(stack),
        HandshakeError::Failure(mid) | HandshakeError::WouldBlock(mid) => {
            let error = mid.into_error();
            if error.io_error().is_some() {
                let io = error.into_io_error().unwrap_or_else(io::Error::other);
                return Error::from_wire(io.into(), timeout);
            }
            // The phone answered, but not with a handshake lifeboat can finish.
            Error::TlsRefused {
                ios: None,
                offered: Offered::Legacy,
                reason: error.to_string(),
            }
        }
    })
}

/// Sends close_notify once and hands back the plain socket, as after `StopSession`: like
/// libimobiledevice, it does not wait for the phone's. OpenSSL reads one record at a time,
/// so nothing past the TLS stream was read from the socket.
pub fn into_plain(mut stream: SslStream<UsbmuxStream>) -> io::Result<UsbmuxStream> {
    let socket = stream.get_ref().try_clone()?;
    let _ = stream.shutdown();
    Ok(socket)
}

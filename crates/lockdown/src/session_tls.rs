//! TLS on a lockdown session or a service connection, whichever TLS the phone speaks: the
//! modern path (rustls: TLS 1.2 and 1.3, ECDHE with AEAD suites) for iOS 10 and later, the
//! legacy path (OpenSSL: TLS 1.0 to 1.2 with CBC and RSA key exchange, `legacy-tls` feature)
//! below it, chosen by `ProductVersion` as libimobiledevice chooses (docs/protocol.md §2.6).
//! The rest of lockdown, AFC and mobilebackup2 see one [`TlsStream`].

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use rustls::{ClientConfig, ClientConnection, StreamOwned};
use usbmux::UsbmuxStream;

use crate::error::{Error, Result};
use crate::pair_record::PairRecord;
use crate::tls;

/// Which TLS lifeboat offered, to say what the phone refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offered {
    Modern,
    Legacy,
}

impl Offered {
    /// What was offered, in words.
    pub fn describe(self) -> &'static str {
        match self {
            Offered::Modern => "TLS 1.2 and 1.3",
            Offered::Legacy => "TLS 1.0 to 1.2 with the older suites of old iOS",
        }
    }

    /// What to make of a refusal.
    pub fn advice(self) -> &'static str {
        match self {
            Offered::Modern if !cfg!(feature = "legacy-tls") => {
                "Old iOS versions speak only older TLS, which this build of lifeboat leaves out \
                 (it is built without its legacy-tls feature, which is on by default)"
            }
            Offered::Modern => {
                "lifeboat offers older TLS only to phones below iOS 10; please report this with \
                 the phone's iOS version"
            }
            Offered::Legacy => {
                "The phone accepted none of the older TLS either; please report this with its iOS version"
            }
        }
    }
}

/// How to start TLS with one phone: chosen once per session, reused for its services.
#[derive(Clone)]
pub enum TlsConnector {
    Modern(Arc<ClientConfig>),
    #[cfg(feature = "legacy-tls")]
    Legacy(openssl::ssl::SslConnector),
}

impl TlsConnector {
    /// The connector for the phone of `record`, which reported `ios` as its ProductVersion.
    pub fn for_phone(record: &PairRecord, ios: Option<&str>) -> Result<TlsConnector> {
        #[cfg(feature = "legacy-tls")]
        if ios.is_some_and(crate::ios::speaks_only_legacy_tls) {
            return Ok(TlsConnector::Legacy(crate::legacy_tls::connector(record)?));
        }
        // Without the feature an old phone gets the modern offer, and its refusal says why.
        let _ = ios;
        Ok(TlsConnector::Modern(tls::client_config(record)?))
    }

    /// The client handshake on `stream`, whose read and write timeouts are `timeout`.
    pub fn handshake(&self, stream: UsbmuxStream, timeout: Duration) -> Result<TlsStream> {
        match self {
            TlsConnector::Modern(config) => Ok(TlsStream::Modern(Box::new(modern_handshake(
                config.clone(),
                stream,
                timeout,
            )?))),
            #[cfg(feature = "legacy-tls")]
            TlsConnector::Legacy(connector) => Ok(TlsStream::Legacy(Box::new(crate::legacy_tls::handshake(
                connector, stream, timeout,
            )?))),
        }
    }
}

fn modern_handshake(
    config: Arc<ClientConfig>,
    mut stream: UsbmuxStream,
    timeout: Duration,
) -> Result<StreamOwned<ClientConnection, UsbmuxStream>> {
    let mut conn = ClientConnection::new(config, tls::server_name())?;
    while conn.is_handshaking() {
        conn.complete_io(&mut stream).map_err(|e| match e.kind() {
            // The phone answered, but not with a handshake lifeboat can finish.
            io::ErrorKind::InvalidData => Error::TlsRefused {
                ios: None,
                offered: Offered::Modern,
                reason: e.to_string(),
            },
            _ => Error::from_wire(e.into(), timeout),
        })?;
    }
    Ok(StreamOwned::new(conn, stream))
}

/// A TLS byte stream to the phone.
pub enum TlsStream {
    Modern(Box<StreamOwned<ClientConnection, UsbmuxStream>>),
    #[cfg(feature = "legacy-tls")]
    Legacy(Box<openssl::ssl::SslStream<UsbmuxStream>>),
}

impl TlsStream {
    /// The socket underneath, for timeouts and shutdown.
    pub fn socket(&self) -> &UsbmuxStream {
        match self {
            TlsStream::Modern(s) => &s.sock,
            #[cfg(feature = "legacy-tls")]
            TlsStream::Legacy(s) => s.get_ref(),
        }
    }

    /// Ends TLS and hands back the plain socket: close_notify is sent once, and the phone's
    /// is not waited for, as libimobiledevice does after `StopSession`.
    pub fn into_plain(self) -> io::Result<UsbmuxStream> {
        match self {
            TlsStream::Modern(tls) => {
                let StreamOwned { mut conn, mut sock } = *tls;
                conn.send_close_notify();
                while conn.wants_write() {
                    conn.write_tls(&mut sock)?;
                }
                Ok(sock)
            }
            #[cfg(feature = "legacy-tls")]
            TlsStream::Legacy(tls) => crate::legacy_tls::into_plain(*tls),
        }
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            TlsStream::Modern(s) => s.read(buf),
            #[cfg(feature = "legacy-tls")]
            TlsStream::Legacy(s) => s.read(buf),
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            TlsStream::Modern(s) => s.write(buf),
            #[cfg(feature = "legacy-tls")]
            TlsStream::Legacy(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            TlsStream::Modern(s) => s.flush(),
            #[cfg(feature = "legacy-tls")]
            TlsStream::Legacy(s) => s.flush(),
        }
    }
}

//! Opening any service on the phone: a lockdown session, `StartService` (with the pair
//! record's escrow bag when asked), a second usbmux connection to the port it gives, TLS on
//! it when the phone says `EnableServiceSSL`, and the session ends as libimobiledevice ends
//! it (docs/protocol.md §2.7). Every service client (AFC, mobilebackup2, …) starts here.

use std::io::{self, Read, Write};
use std::time::Duration;

use usbmux::{Device, UsbmuxClient, UsbmuxStream};

use crate::client::{LockdownClient, REPLY_TIMEOUT};
use crate::error::{Error, Result};
use crate::pair_record::PairRecord;
use crate::session_tls::TlsStream;

/// How to open a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenOptions {
    /// Send the pair record's `EscrowBag`, so the service starts while the phone is locked
    /// (mobilebackup2 needs it; docs/protocol.md §2.7).
    pub escrow_bag: bool,
    /// The longest the service may stay silent once open (lockdown keeps its own
    /// [`REPLY_TIMEOUT`]).
    pub timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions {
            escrow_bag: false,
            timeout: REPLY_TIMEOUT,
        }
    }
}

impl OpenOptions {
    pub fn with_escrow_bag(mut self) -> Self {
        self.escrow_bag = true;
        self
    }

    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

/// Opens `service` on `device` with the trust of `record`, and returns its stream with read
/// and write timeouts of `options.timeout`. The lockdown session is over when this returns;
/// the service connection lives on without it.
pub fn open(
    mux: &UsbmuxClient,
    device: &Device,
    record: &PairRecord,
    service: &str,
    options: OpenOptions,
) -> Result<ServiceStream> {
    let mut lockdown = LockdownClient::connect(mux, device)?;
    lockdown.start_session(record)?;
    let stream = lockdown.open_service(mux, record, service, options.escrow_bag)?;
    // Like libimobiledevice; a phone that fails to end the session has still started the service.
    let _ = lockdown.stop_session();
    stream.set_timeout(Some(options.timeout))?;
    Ok(stream)
}

impl LockdownClient {
    /// Inside a session: starts `service` and connects to it, with the escrow bag of
    /// `record` when `escrow_bag` is set. For callers that also need lockdown afterwards.
    pub fn open_service(
        &mut self,
        mux: &UsbmuxClient,
        record: &PairRecord,
        service: &str,
        escrow_bag: bool,
    ) -> Result<ServiceStream> {
        let bag = match (escrow_bag, &record.escrow_bag) {
            (false, _) => None,
            (true, Some(bag)) => Some(bag.as_slice()),
            (true, None) => return Err(Error::NoEscrowBag(self.udid().to_string(), service.to_string())),
        };
        let info = self.start_service(service, bag)?;
        self.connect_service(mux, &info)
    }
}

/// A byte stream to a service on the phone, plain or TLS.
pub enum ServiceStream {
    Plain(UsbmuxStream),
    Tls(TlsStream),
}

impl ServiceStream {
    /// The socket underneath, for timeouts and shutdown.
    pub fn socket(&self) -> &UsbmuxStream {
        match self {
            ServiceStream::Plain(s) => s,
            ServiceStream::Tls(s) => s.socket(),
        }
    }

    /// Sets both the read and the write timeout.
    pub fn set_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.socket().set_read_timeout(timeout)?;
        self.socket().set_write_timeout(timeout)
    }
}

impl Read for ServiceStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            ServiceStream::Plain(s) => s.read(buf),
            ServiceStream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for ServiceStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            ServiceStream::Plain(s) => s.write(buf),
            ServiceStream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            ServiceStream::Plain(s) => s.flush(),
            ServiceStream::Tls(s) => s.flush(),
        }
    }
}

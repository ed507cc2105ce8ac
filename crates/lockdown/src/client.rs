//! A lockdownd connection: plaintext requests, then a TLS session on the same stream, and
//! back to plaintext after `StopSession` (docs/protocol.md §2.6).

use std::io::{self, Read, Write};
use std::time::{Duration, Instant};

use plist::Value;
use usbmux::{Device, UsbmuxClient, UsbmuxStream};

use crate::codec::{Format, MAX_FRAME};
use crate::error::{DeviceError, Error, Result};
use crate::message::{Reply, Request};
use crate::pair_record::PairRecord;
use crate::pairing;
use crate::service::ServiceStream;
use crate::session_tls::{TlsConnector, TlsStream};
use crate::wire;

/// libimobiledevice waits 30 s for a lockdown reply; so do we.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);
/// How often to ask again while the Trust dialog is up (pymobiledevice3 and idevice: 1 s).
pub const PAIR_POLL_INTERVAL: Duration = Duration::from_secs(1);

enum Channel {
    Plain(UsbmuxStream),
    Tls(TlsStream),
    /// A failed transition left the stream in an unknown state.
    Broken,
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(s) => s.read(buf),
            Channel::Tls(s) => s.read(buf),
            Channel::Broken => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "lockdown connection is broken",
            )),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Plain(s) => s.write(buf),
            Channel::Tls(s) => s.write(buf),
            Channel::Broken => Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "lockdown connection is broken",
            )),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Plain(s) => s.flush(),
            Channel::Tls(s) => s.flush(),
            Channel::Broken => Ok(()),
        }
    }
}

/// Where and how to reach a started service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub name: String,
    pub port: u16,
    pub ssl: bool,
}

/// What pairing is waiting for, reported to the caller while it polls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairingProgress {
    /// The Trust dialog is on the phone's screen.
    WaitingForTrust { elapsed: Duration },
}

pub struct LockdownClient {
    channel: Channel,
    device: Device,
    session_id: Option<String>,
    /// The TLS chosen for this phone at `StartSession`, for its services too.
    tls: Option<TlsConnector>,
    /// The longest the phone may take to answer.
    timeout: Duration,
}

impl LockdownClient {
    /// Connects to lockdownd on `device` and checks it is lockdownd.
    pub fn connect(mux: &UsbmuxClient, device: &Device) -> Result<LockdownClient> {
        LockdownClient::connect_with_timeout(mux, device, REPLY_TIMEOUT)
    }

    /// [`connect`](Self::connect), waiting at most `timeout` for each reply.
    pub fn connect_with_timeout(mux: &UsbmuxClient, device: &Device, timeout: Duration) -> Result<LockdownClient> {
        let stream = mux.connect(device.device_id, usbmux::LOCKDOWN_PORT)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut client = LockdownClient {
            channel: Channel::Plain(stream),
            device: device.clone(),
            session_id: None,
            tls: None,
            timeout,
        };
        let kind = client.query_type()?;
        if kind != crate::LOCKDOWN_TYPE {
            return Err(Error::Protocol(format!(
                "port 62078 answered as {kind:?}, not lockdownd; is the phone in recovery mode?"
            )));
        }
        Ok(client)
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    pub fn udid(&self) -> &str {
        &self.device.udid
    }

    pub fn in_session(&self) -> bool {
        self.session_id.is_some()
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// One request, one reply, checked against lockdownd's conventions and typed.
    pub fn call(&mut self, request: &Request) -> Result<Reply> {
        let Some(kind) = request.kind() else {
            return Err(Error::Protocol(format!(
                "{} is not a request lifeboat sends",
                request.name()
            )));
        };
        let timeout = self.timeout;
        wire::write_frame(&mut self.channel, &Value::Dictionary(request.encode()), Format::Xml)
            .map_err(|e| Error::from_wire(e, timeout))?;
        let reply = wire::read_frame(&mut self.channel, MAX_FRAME)
            .map_err(|e| Error::from_wire(e, timeout))?
            .ok_or_else(|| {
                Error::Protocol(format!(
                    "the phone closed the connection instead of answering {}",
                    kind.name()
                ))
            })?;
        let Value::Dictionary(reply) = reply else {
            return Err(Error::Protocol(format!(
                "the reply to {} is not a dictionary",
                kind.name()
            )));
        };
        Reply::decode(kind, &reply)
    }

    pub fn query_type(&mut self) -> Result<String> {
        match self.call(&Request::QueryType)? {
            Reply::QueryType { kind } => Ok(kind),
            other => Err(unexpected(&other)),
        }
    }

    /// `GetValue`: a whole domain (key `None`) or one key. Missing values are
    /// `DeviceError::MissingValue`.
    pub fn get_value(&mut self, domain: Option<&str>, key: Option<&str>) -> Result<Value> {
        let request = Request::GetValue {
            domain: domain.map(str::to_string),
            key: key.map(str::to_string),
        };
        match self.call(&request)? {
            Reply::GetValue { value, .. } => value.map_err(|error| Error::Device {
                request: request.name().to_string(),
                error,
            }),
            other => Err(unexpected(&other)),
        }
    }

    /// Starts a session with `record` and switches this connection to TLS: the TLS the
    /// phone's iOS version speaks, with `ValidatePair` first where it wants it.
    pub fn start_session(&mut self, record: &PairRecord) -> Result<()> {
        // Any phone tells its iOS version without a session; it chooses the TLS and explains
        // a refused handshake (docs/protocol.md §2.6).
        let ios = self
            .get_value(None, Some("ProductVersion"))
            .ok()
            .and_then(|v| v.as_string().map(str::to_string));
        if ios.as_deref().is_some_and(crate::ios::needs_validate_pair) {
            self.validate_pair(record)?;
        }
        let connector = TlsConnector::for_phone(record, ios.as_deref())?;
        let request = Request::StartSession {
            host_id: Some(record.host_id.clone()),
            system_buid: Some(record.system_buid.clone()),
        };
        let (session_id, enable_ssl) = match self.call(&request) {
            Ok(Reply::StartSession { session_id, enable_ssl }) => (session_id, enable_ssl),
            Ok(other) => return Err(unexpected(&other)),
            Err(e) => return Err(self.revoked_if_unknown_host(e)),
        };
        if enable_ssl {
            self.enable_tls(&connector).map_err(|e| match e {
                Error::TlsRefused { offered, reason, .. } => Error::TlsRefused { ios, offered, reason },
                other => other,
            })?;
        }
        self.tls = Some(connector);
        self.session_id = Some(session_id);
        Ok(())
    }

    /// `ValidatePair`: what lockdownd below iOS 7 wants before `StartSession`, as
    /// libimobiledevice sends it (docs/protocol.md §2.3).
    fn validate_pair(&mut self, record: &PairRecord) -> Result<()> {
        let request = Request::ValidatePair {
            pair_record: Some(record.public_dict()),
        };
        match self.call(&request) {
            Ok(Reply::Done(_)) => Ok(()),
            Ok(other) => Err(unexpected(&other)),
            Err(e) => Err(self.revoked_if_unknown_host(e)),
        }
    }

    /// The phone does not know this computer's HostID: it forgot the pairing.
    fn revoked_if_unknown_host(&self, e: Error) -> Error {
        match e {
            Error::Device {
                error: DeviceError::InvalidHostId,
                ..
            } => Error::PairingRevoked {
                udid: self.udid().to_string(),
            },
            e => e,
        }
    }

    fn enable_tls(&mut self, connector: &TlsConnector) -> Result<()> {
        let Channel::Plain(stream) = std::mem::replace(&mut self.channel, Channel::Broken) else {
            return Err(Error::Protocol(
                "TLS requested on a connection that is not plaintext".into(),
            ));
        };
        self.channel = Channel::Tls(connector.handshake(stream, self.timeout)?);
        Ok(())
    }

    /// Ends the session; the connection is plaintext again afterwards, as on a real phone.
    pub fn stop_session(&mut self) -> Result<()> {
        let Some(session_id) = self.session_id.take() else {
            return Ok(());
        };
        self.call(&Request::StopSession {
            session_id: Some(session_id),
        })?;
        if let Channel::Tls(tls) = std::mem::replace(&mut self.channel, Channel::Broken) {
            self.channel = Channel::Plain(tls.into_plain()?);
        }
        Ok(())
    }

    /// Starts a service inside the session. `escrow_bag` lets services that must work while
    /// the phone is locked (backup) start anyway.
    pub fn start_service(&mut self, name: &str, escrow_bag: Option<&[u8]>) -> Result<ServiceInfo> {
        if !self.in_session() {
            return Err(Error::Protocol(format!("{name} can only be started inside a session")));
        }
        let request = Request::StartService {
            service: Some(name.to_string()),
            escrow_bag: escrow_bag.map(<[u8]>::to_vec),
        };
        match self.call(&request) {
            Ok(Reply::StartService { port, enable_ssl, .. }) => Ok(ServiceInfo {
                name: name.to_string(),
                port,
                ssl: enable_ssl,
            }),
            Ok(other) => Err(unexpected(&other)),
            Err(Error::Device {
                error: DeviceError::PasswordProtected,
                ..
            }) => Err(Error::Locked),
            Err(e) => Err(e),
        }
    }

    /// Connects to a started service, with TLS when the phone asked for it.
    pub fn connect_service(&self, mux: &UsbmuxClient, service: &ServiceInfo) -> Result<ServiceStream> {
        let stream = mux.connect(self.device.device_id, service.port)?;
        if !service.ssl {
            return Ok(ServiceStream::Plain(stream));
        }
        let connector = self
            .tls
            .as_ref()
            .ok_or_else(|| Error::Protocol("service TLS needs a session's pair record".into()))?;
        stream.set_read_timeout(Some(self.timeout))?;
        stream.set_write_timeout(Some(self.timeout))?;
        let tls = connector.handshake(stream, self.timeout)?;
        tls.socket().set_read_timeout(None)?;
        tls.socket().set_write_timeout(None)?;
        Ok(ServiceStream::Tls(tls))
    }

    /// Pairs with the phone: makes certificates for its key and asks it to trust them. While
    /// the Trust dialog is up, `progress` is called about once a second; pairing gives up after
    /// `timeout`. Returns the new record; storing it is the caller's job.
    pub fn pair(
        &mut self,
        system_buid: &str,
        host_name: &str,
        timeout: Duration,
        mut progress: impl FnMut(PairingProgress),
    ) -> Result<PairRecord> {
        let device_key = match self.get_value(None, Some("DevicePublicKey"))? {
            Value::Data(bytes) => bytes,
            Value::String(text) => text.into_bytes(),
            _ => {
                return Err(Error::Protocol("DevicePublicKey is neither data nor text".into()));
            }
        };
        let wifi = self
            .get_value(None, Some("WiFiAddress"))
            .ok()
            .and_then(|v| v.as_string().map(str::to_string));
        let certs = pairing::generate_certificates(&device_key)?;
        let mut record = PairRecord {
            device_certificate: certs.device_certificate.into_bytes(),
            host_certificate: certs.host_certificate.into_bytes(),
            host_private_key: certs.host_private_key.into_bytes(),
            root_certificate: certs.root_certificate.into_bytes(),
            root_private_key: certs.root_private_key.into_bytes(),
            host_id: uuid::Uuid::new_v4().to_string().to_uppercase(),
            system_buid: system_buid.to_string(),
            escrow_bag: None,
            wifi_mac_address: wifi,
            udid: Some(self.udid().to_string()),
        };
        let started = Instant::now();
        loop {
            let request = Request::Pair {
                pair_record: Some(record.public_dict()),
                host_name: Some(host_name.to_string()),
            };
            match self.call(&request) {
                Ok(Reply::Pair { escrow_bag }) => {
                    record.escrow_bag = escrow_bag;
                    return Ok(record);
                }
                Ok(other) => return Err(unexpected(&other)),
                Err(Error::Device { error, .. }) => match error {
                    DeviceError::PairingDialogResponsePending => {
                        let elapsed = started.elapsed();
                        if elapsed >= timeout {
                            return Err(Error::PairingTimeout(timeout.as_secs()));
                        }
                        progress(PairingProgress::WaitingForTrust { elapsed });
                        std::thread::sleep(PAIR_POLL_INTERVAL.min(timeout - elapsed));
                    }
                    DeviceError::PasswordProtected => return Err(Error::Locked),
                    DeviceError::UserDeniedPairing => return Err(Error::PairingDenied),
                    error => {
                        return Err(Error::Device {
                            request: request.name().to_string(),
                            error,
                        });
                    }
                },
                Err(e) => return Err(e),
            }
        }
    }

    /// Asks the phone to forget this computer.
    pub fn unpair(&mut self, record: &PairRecord) -> Result<()> {
        let mut host = plist::Dictionary::new();
        host.insert(crate::message::key::HOST_ID.into(), record.host_id.clone().into());
        self.call(&Request::Unpair {
            pair_record: Some(host),
        })?;
        Ok(())
    }
}

/// A successful reply of the wrong kind; [`Reply::decode`] makes this impossible, but a
/// protocol error is better than a panic.
fn unexpected(reply: &Reply) -> Error {
    Error::Protocol(format!("unexpected reply {reply:?}"))
}

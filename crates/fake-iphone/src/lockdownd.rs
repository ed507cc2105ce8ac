//! The simulated lockdownd on port 62078: requests and replies as a phone gives them
//! (docs/protocol.md §2.2-§2.6), TLS sessions, pairing through the Trust dialog, and services.

use std::io::{self, Read, Write};
use std::time::Duration;

use lockdown::DeviceError;
use lockdown::codec::{Format, MAX_FRAME};
use lockdown::message::{Kind, Reply, Request, key, record_host_id};
use lockdown::wire;
use plist::{Dictionary, Value};
use rustls::pki_types::CertificateDer;
use usbmux::UsbmuxStream;

use crate::legacy_tls::LegacyTlsServer;
use crate::phone::{PairRefusal, Phone, TrustedHost};
use crate::server::{PendingService, Shared, lock};
use crate::tls::{AfterSession, TlsServer};

/// A phone drops a lockdown connection that stays idle for about a minute.
const IDLE: Duration = Duration::from_secs(60);

enum Channel {
    Plain {
        sock: UsbmuxStream,
        prefix: Vec<u8>,
    },
    Tls(Box<TlsServer>),
    /// An old iPhone's TLS (the old-iOS mode).
    LegacyTls(Box<LegacyTlsServer>),
}

impl Read for Channel {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Channel::Plain { sock, prefix } if prefix.is_empty() => sock.read(buf),
            Channel::Plain { prefix, .. } => {
                let n = buf.len().min(prefix.len());
                buf[..n].copy_from_slice(&prefix[..n]);
                prefix.drain(..n);
                Ok(n)
            }
            Channel::Tls(tls) => tls.read(buf),
            Channel::LegacyTls(tls) => tls.read(buf),
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Plain { sock, .. } => sock.write(buf),
            Channel::Tls(tls) => tls.write(buf),
            Channel::LegacyTls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Plain { sock, .. } => sock.flush(),
            Channel::Tls(tls) => tls.flush(),
            Channel::LegacyTls(tls) => tls.flush(),
        }
    }
}

/// What the connection must do after the reply is sent.
enum After {
    Nothing,
    StartTls { host_id: String },
    EndTls,
}

struct Session {
    host_id: String,
    id: String,
}

/// What one lockdown connection remembers between requests.
#[derive(Default)]
struct Connection {
    session: Option<Session>,
    /// The HostID a `ValidatePair` on this connection accepted (below iOS 7 a session
    /// needs one first, docs/protocol.md §2.3).
    validated_host: Option<String>,
}

pub fn serve(shared: &Shared, sock: UsbmuxStream, udid: &str) {
    let _ = sock.set_read_timeout(Some(IDLE));
    let mut channel = Channel::Plain {
        sock,
        prefix: Vec::new(),
    };
    let mut connection = Connection::default();
    loop {
        // End of stream, a broken frame or one that is not a dictionary: lockdownd hangs up.
        let request = match wire::read_frame(&mut channel, MAX_FRAME) {
            Ok(Some(Value::Dictionary(request))) => request,
            _ => return,
        };
        let (reply, after) = handle(shared, udid, &request, &mut connection);
        if wire::write_frame(&mut channel, &Value::Dictionary(reply.encode()), Format::Xml).is_err() {
            return;
        }
        channel = match (after, channel) {
            (After::Nothing, channel) => channel,
            (After::StartTls { host_id }, Channel::Plain { sock, .. }) => {
                let Some(tls) = start_tls(shared, udid, &host_id, sock) else {
                    return;
                };
                tls
            }
            (After::EndTls, Channel::Tls(mut tls)) => match tls.after_session() {
                Ok(AfterSession::Plaintext) => Channel::Plain {
                    sock: tls.sock,
                    prefix: Vec::new(),
                },
                Ok(AfterSession::PlaintextStartingWith(prefix)) => Channel::Plain { sock: tls.sock, prefix },
                Ok(AfterSession::StillTls) => Channel::Tls(tls),
                Ok(AfterSession::Closed) | Err(_) => return,
            },
            (After::EndTls, Channel::LegacyTls(mut tls)) => {
                let prefix = match tls.after_session() {
                    Ok(AfterSession::Plaintext) => Vec::new(),
                    Ok(AfterSession::PlaintextStartingWith(prefix)) => prefix,
                    Ok(AfterSession::StillTls) => {
                        channel = Channel::LegacyTls(tls);
                        continue;
                    }
                    Ok(AfterSession::Closed) | Err(_) => return,
                };
                match tls.into_socket() {
                    Ok(sock) => Channel::Plain { sock, prefix },
                    Err(_) => return,
                }
            }
            (_, channel) => channel,
        };
    }
}

/// Runs the TLS handshake for a new session, modern or (old-iOS mode) legacy, and checks
/// the computer presented the certificate it paired with (libimobiledevice presents the
/// root, others the host one).
fn start_tls(shared: &Shared, udid: &str, host_id: &str, sock: UsbmuxStream) -> Option<Channel> {
    let (legacy, device_key, host) = {
        let mut state = lock(shared);
        let phone = state.phone_by_udid(udid)?;
        let host = phone.trusted_hosts.get(host_id)?.clone();
        (phone.config.tls_legacy_only, phone.device_key_pkcs8.clone(), host)
    };
    let device_cert = lockdown::tls::certificate(&host.device_certificate_pem).ok()?;
    let (channel, presented) = if legacy {
        let tls = LegacyTlsServer::accept(&device_cert, &device_key, sock).ok()?;
        let presented = tls.peer_certificate();
        (Channel::LegacyTls(Box::new(tls)), presented)
    } else {
        let config = crate::tls::server_config(device_cert, &device_key).ok()?;
        let tls = TlsServer::accept(config, sock).ok()?;
        let presented = tls.peer_certificate().map(|c| c.to_vec());
        (Channel::Tls(Box::new(tls)), presented)
    };
    if let Some(presented) = presented {
        let matches = |pem: &[u8]| lockdown::tls::certificate(pem).is_ok_and(|c: CertificateDer| *c == *presented);
        if !matches(&host.host_certificate_pem) && !matches(&host.root_certificate_pem) {
            return None;
        }
    }
    Some(channel)
}

/// Answers one request; each kind has its handler below, named after it.
fn handle(shared: &Shared, udid: &str, request: &Dictionary, connection: &mut Connection) -> (Reply, After) {
    let session = &mut connection.session;
    let request = match Request::decode(request) {
        Ok(request) => request,
        Err(error) => return (Reply::Error { request: None, error }, After::Nothing),
    };
    let mut state = lock(shared);
    let state = &mut *state;
    let Some(phone) = state.phones.iter_mut().find(|p| p.config.udid == udid) else {
        return (Reply::error(&request, DeviceError::InternalError), After::Nothing);
    };
    let refuse = |error| (Reply::error(&request, error), After::Nothing);
    let answer = |reply| (reply, After::Nothing);
    let result = match &request {
        Request::QueryType => Ok(answer(query_type())),
        Request::GetValue { domain, key } => {
            get_value(phone, domain.as_deref(), key.as_deref(), session.is_some()).map(answer)
        }
        Request::SetValue { .. } => Err(DeviceError::SetProhibited),
        Request::RemoveValue { .. } => Err(DeviceError::RemoveProhibited),
        Request::Pair { pair_record, .. } => pair(phone, pair_record.as_ref()).map(answer),
        Request::ValidatePair { pair_record } => validate_pair(phone, pair_record.as_ref()).map(|host_id| {
            connection.validated_host = Some(host_id);
            answer(Reply::Done(Kind::ValidatePair))
        }),
        Request::Unpair { pair_record } => unpair(phone, pair_record.as_ref()).map(answer),
        Request::StartSession { host_id, .. } => {
            start_session(phone, host_id.as_deref(), connection.validated_host.as_deref(), session)
        }
        Request::StopSession { session_id } => stop_session(session_id.as_deref(), session),
        Request::StartService { service, escrow_bag } => {
            let started = start_service(
                phone,
                service.as_deref(),
                escrow_bag.is_some(),
                session.as_ref(),
                &state.registry,
            );
            started.map(|service| {
                let port = state.allocate_service_port(PendingService {
                    udid: udid.to_string(),
                    name: service.clone(),
                });
                answer(Reply::StartService {
                    service,
                    port,
                    enable_ssl: false,
                })
            })
        }
        Request::Unknown(_) => Err(DeviceError::InvalidRequest),
    };
    result.unwrap_or_else(refuse)
}

fn query_type() -> Reply {
    Reply::QueryType {
        kind: lockdown::LOCKDOWN_TYPE.into(),
    }
}

/// A whole domain, or one key of it; domains other than the default need a session.
fn get_value(phone: &Phone, domain: Option<&str>, key: Option<&str>, in_session: bool) -> Result<Reply, DeviceError> {
    let values = phone
        .values
        .domain(domain, in_session)
        .ok_or(DeviceError::MissingValue)?;
    if domain.is_some() && !in_session {
        return Err(DeviceError::GetProhibited);
    }
    let value = match key {
        None => Ok(Value::Dictionary(values)),
        Some(key) => values.get(key).cloned().ok_or(DeviceError::MissingValue),
    };
    Ok(Reply::GetValue {
        domain: domain.map(str::to_string),
        key: key.map(str::to_string),
        value,
    })
}

/// Pairing as the phone's screen decides it (docs/protocol.md §2.4).
fn pair(phone: &mut Phone, record: Option<&Dictionary>) -> Result<Reply, DeviceError> {
    let record = record.ok_or(DeviceError::MissingPairRecord)?;
    let host = trusted_host_from(record, &phone.device_public_key_pem).ok_or(DeviceError::InvalidPairRecord)?;
    let host_id = record_host_id(record).ok_or(DeviceError::MissingHostId)?;
    match phone.pairing_decision() {
        Ok(()) => {
            phone.trusted_hosts.insert(host_id.to_string(), host);
            Ok(Reply::Pair {
                escrow_bag: Some(escrow_bag(host_id)),
            })
        }
        Err(PairRefusal::Pending) => Err(DeviceError::PairingDialogResponsePending),
        Err(PairRefusal::Locked) => Err(DeviceError::PasswordProtected),
        Err(PairRefusal::Denied) => Err(DeviceError::UserDeniedPairing),
    }
}

/// Accepts a trusted computer's record; its HostID is what the connection remembers.
fn validate_pair(phone: &Phone, record: Option<&Dictionary>) -> Result<String, DeviceError> {
    match record.and_then(record_host_id) {
        Some(id) if phone.trusted_hosts.contains_key(id) => Ok(id.to_string()),
        _ => Err(DeviceError::InvalidHostId),
    }
}

fn unpair(phone: &mut Phone, record: Option<&Dictionary>) -> Result<Reply, DeviceError> {
    match record.and_then(record_host_id) {
        Some(id) if phone.trusted_hosts.remove(id).is_some() => Ok(Reply::Done(Kind::Unpair)),
        Some(_) => Err(DeviceError::InvalidHostId),
        None => Err(DeviceError::MissingHostId),
    }
}

/// A session for a trusted computer; TLS starts right after the reply (docs/protocol.md §2.6).
/// Below iOS 7 the computer must have passed `ValidatePair` on this connection first; the
/// simulator refuses it otherwise as it refuses a stranger.
fn start_session(
    phone: &Phone,
    host_id: Option<&str>,
    validated_host: Option<&str>,
    session: &mut Option<Session>,
) -> Result<(Reply, After), DeviceError> {
    if session.is_some() {
        return Err(DeviceError::SessionActive);
    }
    let host_id = host_id.ok_or(DeviceError::MissingHostId)?;
    if !phone.trusted_hosts.contains_key(host_id) {
        return Err(DeviceError::InvalidHostId);
    }
    if lockdown::ios::needs_validate_pair(&phone.config.ios_version) && validated_host != Some(host_id) {
        return Err(DeviceError::InvalidHostId);
    }
    let id = uuid::Uuid::new_v4().to_string().to_uppercase();
    *session = Some(Session {
        host_id: host_id.to_string(),
        id: id.clone(),
    });
    let reply = Reply::StartSession {
        session_id: id,
        enable_ssl: true,
    };
    let after = After::StartTls {
        host_id: host_id.to_string(),
    };
    Ok((reply, after))
}

fn stop_session(session_id: Option<&str>, session: &mut Option<Session>) -> Result<(Reply, After), DeviceError> {
    match session.take() {
        Some(s) if session_id.is_none_or(|id| id == s.id) => Ok((Reply::StopSession, After::EndTls)),
        Some(s) => {
            *session = Some(s);
            Err(DeviceError::InvalidSessionId)
        }
        None => Err(DeviceError::SessionInactive),
    }
}

/// Checks a service may start; the caller gives it a port. Only what the registry serves
/// starts: a phone refuses names it does not know with `InvalidService`.
fn start_service(
    phone: &Phone,
    service: Option<&str>,
    has_escrow_bag: bool,
    session: Option<&Session>,
    registry: &crate::service::Registry,
) -> Result<String, DeviceError> {
    let session = session.ok_or(DeviceError::SessionInactive)?;
    let service = service.ok_or(DeviceError::MissingService)?;
    if !phone.trusted_hosts.contains_key(&session.host_id) {
        return Err(DeviceError::InvalidHostId);
    }
    if !registry.serves(service) {
        return Err(DeviceError::InvalidService);
    }
    // docs/backup.md §1.1: the backup service needs the pair record's escrow bag; a phone
    // set up without backups refuses it as an unknown service.
    if service == crate::backup_agent::SERVICE {
        if !phone.config.backup.enabled {
            return Err(DeviceError::InvalidService);
        }
        if !has_escrow_bag {
            return Err(DeviceError::PasswordProtected);
        }
    }
    // Locked since boot: services refuse unless the escrow bag unlocks them.
    if phone.locked && !has_escrow_bag {
        return Err(DeviceError::PasswordProtected);
    }
    Ok(service.to_string())
}

/// Takes what a phone keeps from a `Pair` request, if the certificates are usable and the
/// device certificate certifies this phone's own key.
fn trusted_host_from(record: &Dictionary, device_public_key_pem: &str) -> Option<TrustedHost> {
    let pem = |name: &str| match record.get(name)? {
        Value::Data(bytes) => Some(bytes.clone()),
        Value::String(text) => Some(text.clone().into_bytes()),
        _ => None,
    };
    let host = TrustedHost {
        device_certificate_pem: pem(key::DEVICE_CERTIFICATE)?,
        host_certificate_pem: pem(key::HOST_CERTIFICATE)?,
        root_certificate_pem: pem(key::ROOT_CERTIFICATE)?,
    };
    let device_cert = lockdown::tls::certificate(&host.device_certificate_pem).ok()?;
    lockdown::tls::certificate(&host.host_certificate_pem).ok()?;
    lockdown::tls::certificate(&host.root_certificate_pem).ok()?;
    let device_key = pkcs1_der(device_public_key_pem)?;
    device_cert
        .windows(device_key.len())
        .any(|w| w == device_key)
        .then_some(host)
}

fn pkcs1_der(pem: &str) -> Option<Vec<u8>> {
    use rsa::pkcs1::{DecodeRsaPublicKey, EncodeRsaPublicKey};
    let key = rsa::RsaPublicKey::from_pkcs1_pem(pem).ok()?;
    Some(key.to_pkcs1_der().ok()?.as_bytes().to_vec())
}

/// An escrow bag is opaque keybag data; its size resembles a real one.
fn escrow_bag(host_id: &str) -> Vec<u8> {
    let mut bag = b"DATA".to_vec();
    bag.extend_from_slice(host_id.as_bytes());
    bag.resize(1024, 0xA5);
    bag
}

//! The simulated lockdownd on port 62078: requests and replies as a phone gives them
//! (protocol.md 2.2-2.6), TLS sessions, pairing through the Trust dialog, and services.

use std::io::{self, Read, Write};
use std::time::Duration;

use lockdown::codec;
use lockdown::message::{error_reply, reply};
use plist::{Dictionary, Value};
use rustls::pki_types::CertificateDer;
use usbmux::UsbmuxStream;

use crate::phone::{PairRefusal, TrustedHost};
use crate::server::{PendingService, Shared, lock};
use crate::tls::{AfterSession, TlsServer};

/// A phone drops a lockdown connection that stays idle for about a minute.
const IDLE: Duration = Duration::from_secs(60);
/// Services this phone can start.
const SERVICES: &[&str] = &[
    "com.apple.afc",
    "com.apple.mobile.house_arrest",
    "com.apple.mobilebackup2",
];

enum Channel {
    Plain { sock: UsbmuxStream, prefix: Vec<u8> },
    Tls(Box<TlsServer>),
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
        }
    }
}

impl Write for Channel {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Channel::Plain { sock, .. } => sock.write(buf),
            Channel::Tls(tls) => tls.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Channel::Plain { sock, .. } => sock.flush(),
            Channel::Tls(tls) => tls.flush(),
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

pub fn serve(shared: &Shared, sock: UsbmuxStream, udid: &str) {
    let _ = sock.set_read_timeout(Some(IDLE));
    let mut channel = Channel::Plain {
        sock,
        prefix: Vec::new(),
    };
    let mut session: Option<Session> = None;
    loop {
        let request = match codec::read_frame(&mut channel) {
            Ok(Some(request)) => request,
            _ => return,
        };
        let (reply, after) = handle(shared, udid, &request, &mut session);
        if codec::write_frame(&mut channel, &Value::Dictionary(reply)).is_err() {
            return;
        }
        channel = match (after, channel) {
            (After::Nothing, channel) => channel,
            (After::StartTls { host_id }, Channel::Plain { sock, .. }) => {
                match start_tls(shared, udid, &host_id, sock) {
                    Some(tls) => Channel::Tls(Box::new(tls)),
                    None => return,
                }
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
            (_, channel) => channel,
        };
    }
}

/// Runs the TLS handshake for a new session and checks the computer presented the
/// certificate it paired with (libimobiledevice presents the root, others the host one).
fn start_tls(shared: &Shared, udid: &str, host_id: &str, sock: UsbmuxStream) -> Option<TlsServer> {
    let (config, host) = {
        let mut state = lock(shared);
        let phone = state.phone_by_udid(udid)?;
        let host = phone.trusted_hosts.get(host_id)?.clone();
        let device_cert = lockdown::tls::certificate(&host.device_certificate_pem).ok()?;
        (
            crate::tls::server_config(device_cert, &phone.device_key_pkcs8).ok()?,
            host,
        )
    };
    let tls = TlsServer::accept(config, sock).ok()?;
    if let Some(presented) = tls.peer_certificate() {
        let matches = |pem: &[u8]| lockdown::tls::certificate(pem).is_ok_and(|c: CertificateDer| c == presented);
        if !matches(&host.host_certificate_pem) && !matches(&host.root_certificate_pem) {
            return None;
        }
    }
    Some(tls)
}

fn handle(shared: &Shared, udid: &str, request: &Dictionary, session: &mut Option<Session>) -> (Dictionary, After) {
    let Some(name) = request.get("Request").and_then(Value::as_string) else {
        let mut d = Dictionary::new();
        d.insert("Error".into(), "MissingRequest".into());
        return (d, After::Nothing);
    };
    let mut state = lock(shared);
    let Some(phone) = state.phone_by_udid(udid) else {
        return (error_reply(name, "InternalError"), After::Nothing);
    };
    let in_session = session.is_some();
    let string = |key: &str| request.get(key).and_then(Value::as_string);
    match name {
        "QueryType" => {
            let mut d = reply(name);
            d.insert("Type".into(), lockdown::LOCKDOWN_TYPE.into());
            (d, After::Nothing)
        }
        "GetValue" => {
            let domain = string("Domain");
            let Some(values) = phone.values.domain(domain, in_session) else {
                return (error_reply(name, "MissingValue"), After::Nothing);
            };
            if domain.is_some() && !in_session {
                return (error_reply(name, "GetProhibited"), After::Nothing);
            }
            let mut d = reply(name);
            if let Some(domain) = domain {
                d.insert("Domain".into(), domain.into());
            }
            match string("Key") {
                None => {
                    d.insert("Value".into(), Value::Dictionary(values));
                }
                Some(key) => {
                    d.insert("Key".into(), key.into());
                    let (k, v) = match values.get(key) {
                        Some(v) => ("Value", v.clone()),
                        None => ("Error", "MissingValue".into()),
                    };
                    d.insert(k.into(), v);
                }
            }
            (d, After::Nothing)
        }
        "SetValue" => (error_reply(name, "SetProhibited"), After::Nothing),
        "RemoveValue" => (error_reply(name, "RemoveProhibited"), After::Nothing),
        "Pair" => {
            let Some(record) = request.get("PairRecord").and_then(Value::as_dictionary) else {
                return (error_reply(name, "MissingPairRecord"), After::Nothing);
            };
            let Some(host) = trusted_host_from(record, &phone.device_public_key_pem) else {
                return (error_reply(name, "InvalidPairRecord"), After::Nothing);
            };
            let Some(host_id) = record.get("HostID").and_then(Value::as_string) else {
                return (error_reply(name, "MissingHostID"), After::Nothing);
            };
            match phone.pairing_decision() {
                Ok(()) => {
                    phone.trusted_hosts.insert(host_id.to_string(), host);
                    let mut d = reply(name);
                    d.insert("EscrowBag".into(), Value::Data(escrow_bag(host_id)));
                    (d, After::Nothing)
                }
                Err(PairRefusal::Pending) => (error_reply(name, "PairingDialogResponsePending"), After::Nothing),
                Err(PairRefusal::Locked) => (error_reply(name, "PasswordProtected"), After::Nothing),
                Err(PairRefusal::Denied) => (error_reply(name, "UserDeniedPairing"), After::Nothing),
            }
        }
        "ValidatePair" => {
            let host_id = record_host_id(request);
            match host_id {
                Some(id) if phone.trusted_hosts.contains_key(id) => (reply(name), After::Nothing),
                _ => (error_reply(name, "InvalidHostID"), After::Nothing),
            }
        }
        "Unpair" => {
            let host_id = record_host_id(request);
            match host_id {
                Some(id) if phone.trusted_hosts.remove(id).is_some() => (reply(name), After::Nothing),
                Some(_) => (error_reply(name, "InvalidHostID"), After::Nothing),
                None => (error_reply(name, "MissingHostID"), After::Nothing),
            }
        }
        "StartSession" => {
            if in_session {
                return (error_reply(name, "SessionActive"), After::Nothing);
            }
            let Some(host_id) = string("HostID") else {
                return (error_reply(name, "MissingHostID"), After::Nothing);
            };
            if !phone.trusted_hosts.contains_key(host_id) {
                return (error_reply(name, "InvalidHostID"), After::Nothing);
            }
            let id = uuid::Uuid::new_v4().to_string().to_uppercase();
            let mut d = reply(name);
            d.insert("SessionID".into(), id.clone().into());
            d.insert("EnableSessionSSL".into(), true.into());
            *session = Some(Session {
                host_id: host_id.to_string(),
                id,
            });
            (
                d,
                After::StartTls {
                    host_id: host_id.to_string(),
                },
            )
        }
        "StopSession" => match session.take() {
            Some(s) if string("SessionID").is_none_or(|id| id == s.id) => {
                let mut d = reply(name);
                // pymobiledevice3 requires Result: Success here.
                d.insert("Result".into(), "Success".into());
                (d, After::EndTls)
            }
            Some(s) => {
                *session = Some(s);
                (error_reply(name, "InvalidSessionID"), After::Nothing)
            }
            None => (error_reply(name, "SessionInactive"), After::Nothing),
        },
        "StartService" => {
            let Some(session) = session else {
                return (error_reply(name, "SessionInactive"), After::Nothing);
            };
            let Some(service) = string("Service") else {
                return (error_reply(name, "MissingService"), After::Nothing);
            };
            if !phone.trusted_hosts.contains_key(&session.host_id) {
                return (error_reply(name, "InvalidHostID"), After::Nothing);
            }
            if !SERVICES.contains(&service) {
                return (error_reply(name, "InvalidService"), After::Nothing);
            }
            // Locked since boot: services refuse unless the escrow bag unlocks them.
            if phone.locked && request.get("EscrowBag").is_none() {
                return (error_reply(name, "PasswordProtected"), After::Nothing);
            }
            let pending = PendingService {
                udid: udid.to_string(),
                name: service.to_string(),
            };
            let port = state.allocate_service_port(pending);
            let mut d = reply(name);
            d.insert("Service".into(), service.into());
            d.insert("Port".into(), u64::from(port).into());
            d.insert("EnableServiceSSL".into(), false.into());
            (d, After::Nothing)
        }
        _ => (error_reply(name, "InvalidRequest"), After::Nothing),
    }
}

/// The `HostID` inside a request's `PairRecord` (ValidatePair, Unpair).
fn record_host_id(request: &Dictionary) -> Option<&str> {
    request.get("PairRecord")?.as_dictionary()?.get("HostID")?.as_string()
}

/// Takes what a phone keeps from a `Pair` request, if the certificates are usable and the
/// device certificate certifies this phone's own key.
fn trusted_host_from(record: &Dictionary, device_public_key_pem: &str) -> Option<TrustedHost> {
    let pem = |key: &str| match record.get(key)? {
        Value::Data(bytes) => Some(bytes.clone()),
        Value::String(text) => Some(text.clone().into_bytes()),
        _ => None,
    };
    let host = TrustedHost {
        device_certificate_pem: pem("DeviceCertificate")?,
        host_certificate_pem: pem("HostCertificate")?,
        root_certificate_pem: pem("RootCertificate")?,
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

//! A blocking usbmuxd client. Like libusbmuxd, it opens one socket per control request;
//! `Connect` turns its socket into a byte pipe to the device port.
//!
//! With the `usb` feature the same client can instead reach phones over USB in-process
//! (see [`crate::transport`]), so the rest of lifeboat never asks which one it has.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use plist::{Dictionary, Value};

#[cfg(all(feature = "usb", target_os = "linux"))]
use std::sync::Arc;
#[cfg(all(feature = "usb", target_os = "linux"))]
use std::sync::atomic::AtomicBool;

use crate::address::UsbmuxAddress;
use crate::codec::CLIENT_MAX_MESSAGE;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::message::{Event, Request, ResultCode};
use crate::stream::UsbmuxStream;
use crate::transport::{self, TransportChoice, TransportInfo, UsbSettings};
use crate::wire;

/// How long the daemon may take to answer a control request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct UsbmuxClient {
    /// The daemon's address; with USB, where `auto` looked for one.
    address: UsbmuxAddress,
    next_tag: AtomicU32,
    /// `None`: the daemon at `address`. With `auto`, also kept while the daemon is used,
    /// to look at the bus when the daemon lists no phone.
    #[cfg(all(feature = "usb", target_os = "linux"))]
    usb: Option<Arc<UsbMode>>,
}

#[cfg(all(feature = "usb", target_os = "linux"))]
#[derive(Debug)]
struct UsbMode {
    transport: crate::usb::UsbTransport,
    /// Chosen by `auto` because no daemon answered, rather than asked for.
    auto: bool,
    /// `auto` only: a daemon answers (from the start, or it started after lifeboat did, as
    /// udev starts usbmuxd when a phone is plugged in), so requests go to it from now on.
    handed_to_daemon: AtomicBool,
}

#[cfg(all(feature = "usb", target_os = "linux"))]
impl UsbMode {
    /// With `auto`, whether requests go to the daemon: once one answers at `address`, the
    /// phones opened here are let go of so it can claim them, and it is used from then on.
    fn daemon_took_over(&self, address: &UsbmuxAddress) -> bool {
        if !self.auto {
            return false;
        }
        if self.handed_to_daemon.load(Ordering::Relaxed) {
            return true;
        }
        if !transport::daemon_answers(address) {
            return false;
        }
        tracing::info!(%address, "transport: a usbmuxd daemon started; going through it from now on");
        self.transport.release_all();
        self.handed_to_daemon.store(true, Ordering::Relaxed);
        true
    }
}

impl UsbmuxClient {
    /// A client of the daemon at `address`.
    pub fn new(address: UsbmuxAddress) -> UsbmuxClient {
        UsbmuxClient {
            address,
            next_tag: AtomicU32::new(1),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            usb: None,
        }
    }

    /// A client over the transport `choice` names. `address` is the daemon's, and
    /// `address_given` says whether the user named it (a flag or the environment) rather
    /// than it being the platform default: `auto` then keeps to that daemon.
    pub fn with_transport(
        choice: TransportChoice,
        address: UsbmuxAddress,
        address_given: bool,
        usb: UsbSettings,
    ) -> Result<UsbmuxClient> {
        // Which way was taken, and why: the first question when a phone is not found
        // (seen with LIFEBOAT_LOG=debug).
        match choice {
            TransportChoice::Daemon => {
                tracing::debug!(%address, "transport: usbmuxd, as asked");
                Ok(UsbmuxClient::new(address))
            }
            TransportChoice::Usb => {
                tracing::debug!("transport: USB directly, as asked");
                UsbmuxClient::over_usb(address, usb, None)
            }
            TransportChoice::Auto if address_given || !transport::USB_SUPPORTED => {
                tracing::debug!(%address, address_given, "transport: usbmuxd (auto; an address was given or USB is unsupported)");
                Ok(UsbmuxClient::new(address))
            }
            TransportChoice::Auto if transport::daemon_answers(&address) => {
                tracing::debug!(%address, "transport: usbmuxd (auto; the daemon answered)");
                UsbmuxClient::over_usb(address, usb, Some(true))
            }
            TransportChoice::Auto => {
                tracing::debug!(%address, "transport: USB directly (auto; no daemon answered)");
                UsbmuxClient::over_usb(address, usb, Some(false))
            }
        }
    }

    /// `auto`: `None` when USB was asked for, else whether the daemon answered at first.
    #[cfg(all(feature = "usb", target_os = "linux"))]
    fn over_usb(address: UsbmuxAddress, usb: UsbSettings, auto: Option<bool>) -> Result<UsbmuxClient> {
        Ok(UsbmuxClient::with_usb_transport(
            address,
            crate::usb::UsbTransport::new(usb),
            auto,
        ))
    }

    #[cfg(all(feature = "usb", target_os = "linux"))]
    pub(crate) fn with_usb_transport(
        address: UsbmuxAddress,
        transport: crate::usb::UsbTransport,
        auto: Option<bool>,
    ) -> UsbmuxClient {
        UsbmuxClient {
            address,
            next_tag: AtomicU32::new(1),
            usb: Some(Arc::new(UsbMode {
                transport,
                auto: auto.is_some(),
                handed_to_daemon: AtomicBool::new(auto == Some(true)),
            })),
        }
    }

    #[cfg(not(all(feature = "usb", target_os = "linux")))]
    fn over_usb(_address: UsbmuxAddress, _usb: UsbSettings, _auto: Option<bool>) -> Result<UsbmuxClient> {
        Err(Error::UsbUnavailable(if cfg!(target_os = "linux") {
            "this lifeboat was built without USB support; start usbmuxd and go through it, or reinstall with the default features"
        } else {
            "that needs Linux; on macOS and Windows lifeboat uses Apple's own usbmuxd (installed with Finder, iTunes or the Apple Devices app)"
        }))
    }

    /// The daemon's address; with USB, where `auto` looked for one.
    pub fn address(&self) -> &UsbmuxAddress {
        &self.address
    }

    /// The transport requests go through now.
    pub fn transport(&self) -> TransportInfo {
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            return TransportInfo::Usb {
                no_daemon_at: mode.auto.then(|| self.address.clone()),
            };
        }
        TransportInfo::Daemon {
            address: self.address.clone(),
        }
    }

    /// Whether pair records can be read from and saved to the daemon. Without one they
    /// live in files only (see the `lockdown` crate's store).
    pub fn stores_pair_records(&self) -> bool {
        matches!(self.transport(), TransportInfo::Daemon { .. })
    }

    /// The USB transport, unless requests go to a daemon (with `auto`, checked each time).
    #[cfg(all(feature = "usb", target_os = "linux"))]
    fn usb_mode(&self) -> Option<&Arc<UsbMode>> {
        self.usb.as_ref().filter(|mode| !mode.daemon_took_over(&self.address))
    }

    /// With `auto`, a phone held by a daemon that was not there at the start means the
    /// daemon is there now: hand over to it. Anything else stands.
    #[cfg(all(feature = "usb", target_os = "linux"))]
    fn hand_over(&self, mode: &UsbMode, error: Error) -> Result<()> {
        if matches!(error, Error::UsbBusy { .. }) && mode.daemon_took_over(&self.address) {
            Ok(())
        } else {
            Err(error)
        }
    }

    fn open(&self) -> Result<UsbmuxStream> {
        let stream = UsbmuxStream::connect(&self.address)?;
        stream.set_read_timeout(Some(REPLY_TIMEOUT))?;
        stream.set_write_timeout(Some(REPLY_TIMEOUT))?;
        Ok(stream)
    }

    /// Sends a request on `stream` and reads the reply that carries the same tag.
    fn exchange(&self, stream: &mut UsbmuxStream, request: &Request) -> Result<Dictionary> {
        let tag = self.next_tag.fetch_add(1, Ordering::Relaxed);
        wire::write_message(stream, tag, &request.to_plist())?;
        let (header, reply) = wire::read_message(stream, CLIENT_MAX_MESSAGE)?.ok_or_else(|| {
            Error::Protocol(format!(
                "usbmuxd closed the connection without answering {}",
                request.name()
            ))
        })?;
        if header.tag != tag {
            return Err(Error::Protocol(format!(
                "usbmuxd answered tag {} to request tag {tag}",
                header.tag
            )));
        }
        Ok(reply)
    }

    fn request(&self, request: &Request) -> Result<Dictionary> {
        let mut stream = self.open()?;
        self.exchange(&mut stream, request)
    }

    /// Expects `{MessageType: Result, Number: 0}`.
    fn expect_ok(request: &Request, reply: &Dictionary) -> Result<()> {
        match ResultCode::from_reply(reply) {
            Some(ResultCode::Ok) => Ok(()),
            Some(code) => Err(Error::Refused {
                request: request.name(),
                code,
            }),
            None => Err(Error::Protocol(format!("{} reply is not a Result", request.name()))),
        }
    }

    pub fn list_devices(&self) -> Result<Vec<Device>> {
        self.list_devices_wanting(None)
    }

    /// Over USB directly, the UDIDs of the iOS devices on the bus, opened or not (read from
    /// their serial numbers; nothing is claimed). With a daemon: none, since its listing
    /// already names every phone. For saying which phones are there when the one a user
    /// named is not.
    pub fn udids_on_the_bus(&self) -> Vec<String> {
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            return mode.transport.udids_on_the_bus();
        }
        Vec::new()
    }

    /// The connected phones. Over USB, naming one (`wanted`, a UDID) claims only that phone
    /// and leaves the others alone; a daemon lists them all either way.
    pub fn list_devices_wanting(&self, wanted: Option<&str>) -> Result<Vec<Device>> {
        // A daemon lists every phone; only the USB transport claims phones itself.
        #[cfg(not(all(feature = "usb", target_os = "linux")))]
        let _ = wanted;
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            match mode.transport.list_devices(wanted) {
                Err(e) => self.hand_over(mode, e)?,
                listed => return listed,
            }
        }
        let reply = self.request(&Request::ListDevices)?;
        let list = match reply.get("DeviceList") {
            Some(Value::Array(list)) => list,
            _ => {
                if let Some(code) = ResultCode::from_reply(&reply) {
                    return Err(Error::Refused {
                        request: "ListDevices",
                        code,
                    });
                }
                return Err(Error::Protocol("ListDevices reply has no DeviceList".into()));
            }
        };
        let devices = list
            .iter()
            .map(|item| {
                let dict = item
                    .as_dictionary()
                    .ok_or_else(|| Error::Protocol("DeviceList item is not a dictionary".into()))?;
                Device::from_attached_plist(dict)
            })
            .collect::<Result<Vec<_>>>()?;
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if devices.is_empty()
            && self
                .usb
                .as_ref()
                .is_some_and(|mode| mode.auto && mode.transport.bus_shows_a_phone())
        {
            // udev starts usbmuxd when a phone is plugged in; lifeboat may have won the phone
            // from it, and the daemon then never sees it until it is plugged in again.
            return Err(Error::DaemonSeesNoPhone {
                address: self.address.to_string(),
            });
        }
        Ok(devices)
    }

    /// Over USB: the phones the last listing found on the bus but could not open, with
    /// why (they are left out of the list, and logged as warnings). Empty with a daemon.
    pub fn take_unopened(&self) -> Vec<Error> {
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            return mode.transport.take_unopened();
        }
        Vec::new()
    }

    /// Starts listening: the current devices arrive as `Attached` events first.
    pub fn listen(&self) -> Result<Listener> {
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            match crate::usb::UsbListener::start(mode.transport.clone()) {
                Ok(usb) => {
                    return Ok(Listener {
                        inner: Inner::Usb {
                            listener: usb,
                            mode: Arc::clone(mode),
                            address: self.address.clone(),
                        },
                        handed_over: Vec::new(),
                    });
                }
                Err(e) => self.hand_over(mode, e)?,
            }
        }
        let mut stream = self.open()?;
        let reply = self.exchange(&mut stream, &Request::Listen)?;
        Self::expect_ok(&Request::Listen, &reply)?;
        Ok(Listener {
            inner: Inner::Daemon {
                stream,
                pending: Vec::new(),
            },
            handed_over: Vec::new(),
        })
    }

    /// Opens a byte stream to `port` on the device. Read and write timeouts are cleared.
    pub fn connect(&self, device_id: u32, port: u16) -> Result<UsbmuxStream> {
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            return mode.transport.connect(device_id, port);
        }
        let mut stream = self.open()?;
        let request = Request::Connect { device_id, port };
        let reply = self.exchange(&mut stream, &request)?;
        match ResultCode::from_reply(&reply) {
            Some(ResultCode::Ok) => {
                stream.set_read_timeout(None)?;
                stream.set_write_timeout(None)?;
                Ok(stream)
            }
            Some(ResultCode::BadDevice) => Err(Error::NoSuchDevice(device_id)),
            Some(ResultCode::ConnectionRefused) => Err(Error::ConnectionRefused { device_id, port }),
            Some(code) => Err(Error::Refused {
                request: "Connect",
                code,
            }),
            None => Err(Error::Protocol("Connect reply is not a Result".into())),
        }
    }

    /// The daemon's system BUID, used as `SystemBUID` in pair records.
    /// Over USB, lifeboat's own, kept beside its pair records (or the system's, if readable).
    pub fn read_buid(&self) -> Result<String> {
        #[cfg(all(feature = "usb", target_os = "linux"))]
        if let Some(mode) = self.usb_mode() {
            return mode.transport.read_buid();
        }
        let reply = self.request(&Request::ReadBuid)?;
        reply
            .get("BUID")
            .and_then(Value::as_string)
            .map(str::to_string)
            .ok_or_else(|| Error::Protocol("ReadBUID reply has no BUID".into()))
    }

    /// The stored pair record for `udid`, as the bytes the daemon keeps, or `None`.
    /// Over USB there is no daemon to keep records: always `None`.
    pub fn read_pair_record(&self, udid: &str) -> Result<Option<Vec<u8>>> {
        if !self.stores_pair_records() {
            return Ok(None);
        }
        let request = Request::ReadPairRecord { udid: udid.to_string() };
        let reply = self.request(&request)?;
        if let Some(data) = reply.get("PairRecordData").and_then(Value::as_data) {
            return Ok(Some(data.to_vec()));
        }
        match ResultCode::from_reply(&reply) {
            // ENOENT, or any other refusal: no usable record here.
            Some(_) => Ok(None),
            None => Err(Error::Protocol(
                "ReadPairRecord reply has neither data nor Result".into(),
            )),
        }
    }

    pub fn save_pair_record(&self, udid: &str, device_id: Option<u32>, data: &[u8]) -> Result<()> {
        if !self.stores_pair_records() {
            return Err(Error::NeedsDaemon {
                request: "SavePairRecord",
            });
        }
        let request = Request::SavePairRecord {
            udid: udid.to_string(),
            data: data.to_vec(),
            device_id,
        };
        let reply = self.request(&request)?;
        Self::expect_ok(&request, &reply)
    }

    pub fn delete_pair_record(&self, udid: &str) -> Result<()> {
        if !self.stores_pair_records() {
            return Err(Error::NeedsDaemon {
                request: "DeletePairRecord",
            });
        }
        let request = Request::DeletePairRecord { udid: udid.to_string() };
        let reply = self.request(&request)?;
        Self::expect_ok(&request, &reply)
    }
}

/// A `Listen` connection delivering device events (over USB: the bus, watched).
#[derive(Debug)]
pub struct Listener {
    inner: Inner,
    /// Events to deliver first: the phones let go of when a daemon took over, detached.
    handed_over: Vec<Event>,
}

#[derive(Debug)]
enum Inner {
    Daemon {
        stream: UsbmuxStream,
        /// Bytes received but not yet a whole message; kept across timeouts so framing holds.
        pending: Vec<u8>,
    },
    #[cfg(all(feature = "usb", target_os = "linux"))]
    Usb {
        listener: crate::usb::UsbListener,
        /// With `auto`, a daemon that starts meanwhile takes over (checked once a second).
        mode: Arc<UsbMode>,
        address: UsbmuxAddress,
    },
}

/// How often a USB listener in `auto` mode looks for a daemon that has started.
#[cfg(all(feature = "usb", target_os = "linux"))]
const DAEMON_LOOK: Duration = Duration::from_secs(1);

impl Listener {
    /// Waits for the next event. `Ok(None)` when `timeout` passes with no whole event.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        if !self.handed_over.is_empty() {
            return Ok(Some(self.handed_over.remove(0)));
        }
        match &mut self.inner {
            Inner::Daemon { stream, pending } => next_daemon_event(stream, pending, timeout),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            Inner::Usb { .. } => self.next_usb_event(timeout),
        }
    }

    /// The USB listener's next event, until a daemon takes over: then the phones seen so
    /// far are detached, and the daemon's events follow.
    #[cfg(all(feature = "usb", target_os = "linux"))]
    fn next_usb_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            let Inner::Usb {
                listener,
                mode,
                address,
            } = &mut self.inner
            else {
                return self.next_event(timeout);
            };
            if mode.daemon_took_over(address) {
                let daemon = UsbmuxClient::new(address.clone()).listen()?;
                self.handed_over = listener.detach_all();
                self.inner = daemon.inner;
                let remaining = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
                return self.next_event(remaining);
            }
            let now = std::time::Instant::now();
            let slice = match deadline {
                Some(d) if d <= now => return Ok(None),
                Some(d) => (d - now).min(DAEMON_LOOK),
                None => DAEMON_LOOK,
            };
            if let Some(event) = listener.next_event(Some(slice))? {
                return Ok(Some(event));
            }
        }
    }
}

fn next_daemon_event(
    stream: &mut UsbmuxStream,
    pending: &mut Vec<u8>,
    timeout: Option<Duration>,
) -> Result<Option<Event>> {
    let deadline = timeout.map(|t| std::time::Instant::now() + t);
    loop {
        while let Some(message) = take_message(pending)? {
            if let Some(event) = Event::from_plist(&message)? {
                return Ok(Some(event));
            }
        }
        let remaining = match deadline {
            Some(d) => match d.checked_duration_since(std::time::Instant::now()) {
                Some(r) if !r.is_zero() => Some(r),
                _ => return Ok(None),
            },
            None => None,
        };
        stream.set_read_timeout(remaining)?;
        let mut chunk = [0u8; 4096];
        match std::io::Read::read(stream, &mut chunk) {
            Ok(0) => {
                return Err(Error::Protocol("usbmuxd closed the Listen connection".into()));
            }
            Ok(n) => pending.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Ok(None);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::Io(e)),
        }
    }
}

/// Cuts one whole message off the front of `pending`, if there is one.
fn take_message(pending: &mut Vec<u8>) -> Result<Option<Dictionary>> {
    use crate::codec::{HEADER_LEN, Header, decode_payload};
    let Some(header_bytes) = pending.first_chunk::<HEADER_LEN>() else {
        return Ok(None);
    };
    let header = Header::decode(header_bytes, CLIENT_MAX_MESSAGE)?;
    let total = header.length as usize;
    if pending.len() < total {
        return Ok(None);
    }
    let message = decode_payload(&pending[HEADER_LEN..total])?;
    pending.drain(..total);
    Ok(Some(message))
}

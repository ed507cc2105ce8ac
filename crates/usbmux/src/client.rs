//! A blocking usbmuxd client. Like libusbmuxd, it opens one socket per control request;
//! `Connect` turns its socket into a byte pipe to the device port.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use plist::{Dictionary, Value};

use crate::address::UsbmuxAddress;
use crate::codec::CLIENT_MAX_MESSAGE;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::message::{Event, Request, ResultCode};
use crate::stream::UsbmuxStream;
use crate::wire;

/// How long the daemon may take to answer a control request.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug)]
pub struct UsbmuxClient {
    address: UsbmuxAddress,
    next_tag: AtomicU32,
}

impl UsbmuxClient {
    pub fn new(address: UsbmuxAddress) -> UsbmuxClient {
        UsbmuxClient {
            address,
            next_tag: AtomicU32::new(1),
        }
    }

    pub fn address(&self) -> &UsbmuxAddress {
        &self.address
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
        list.iter()
            .map(|item| {
                let dict = item
                    .as_dictionary()
                    .ok_or_else(|| Error::Protocol("DeviceList item is not a dictionary".into()))?;
                Device::from_attached_plist(dict)
            })
            .collect()
    }

    /// Starts listening: the current devices arrive as `Attached` events first.
    pub fn listen(&self) -> Result<Listener> {
        let mut stream = self.open()?;
        let reply = self.exchange(&mut stream, &Request::Listen)?;
        Self::expect_ok(&Request::Listen, &reply)?;
        Ok(Listener {
            stream,
            pending: Vec::new(),
        })
    }

    /// Opens a byte stream to `port` on the device. Read and write timeouts are cleared.
    pub fn connect(&self, device_id: u32, port: u16) -> Result<UsbmuxStream> {
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
    pub fn read_buid(&self) -> Result<String> {
        let reply = self.request(&Request::ReadBuid)?;
        reply
            .get("BUID")
            .and_then(Value::as_string)
            .map(str::to_string)
            .ok_or_else(|| Error::Protocol("ReadBUID reply has no BUID".into()))
    }

    /// The stored pair record for `udid`, as the bytes the daemon keeps, or `None`.
    pub fn read_pair_record(&self, udid: &str) -> Result<Option<Vec<u8>>> {
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
        let request = Request::SavePairRecord {
            udid: udid.to_string(),
            data: data.to_vec(),
            device_id,
        };
        let reply = self.request(&request)?;
        Self::expect_ok(&request, &reply)
    }

    pub fn delete_pair_record(&self, udid: &str) -> Result<()> {
        let request = Request::DeletePairRecord { udid: udid.to_string() };
        let reply = self.request(&request)?;
        Self::expect_ok(&request, &reply)
    }
}

/// A `Listen` connection delivering device events.
#[derive(Debug)]
pub struct Listener {
    stream: UsbmuxStream,
    /// Bytes received but not yet a whole message; kept across timeouts so framing holds.
    pending: Vec<u8>,
}

impl Listener {
    /// Waits for the next event. `Ok(None)` when `timeout` passes with no whole event.
    pub fn next_event(&mut self, timeout: Option<Duration>) -> Result<Option<Event>> {
        let deadline = timeout.map(|t| std::time::Instant::now() + t);
        loop {
            while let Some(message) = self.take_message()? {
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
            self.stream.set_read_timeout(remaining)?;
            let mut chunk = [0u8; 4096];
            match std::io::Read::read(&mut self.stream, &mut chunk) {
                Ok(0) => {
                    return Err(Error::Protocol("usbmuxd closed the Listen connection".into()));
                }
                Ok(n) => self.pending.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                    return Ok(None);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Io(e)),
            }
        }
    }

    /// Cuts one whole message off the front of `pending`, if there is one.
    fn take_message(&mut self) -> Result<Option<Dictionary>> {
        use crate::codec::{HEADER_LEN, Header, decode_payload};
        let Some(header_bytes) = self.pending.first_chunk::<HEADER_LEN>() else {
            return Ok(None);
        };
        let header = Header::decode(header_bytes, CLIENT_MAX_MESSAGE)?;
        let total = header.length as usize;
        if self.pending.len() < total {
            return Ok(None);
        }
        let message = decode_payload(&self.pending[HEADER_LEN..total])?;
        self.pending.drain(..total);
        Ok(Some(message))
    }
}

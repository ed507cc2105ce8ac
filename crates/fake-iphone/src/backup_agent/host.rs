//! The phone's end of a mobilebackup2 connection: DeviceLink messages in lockdown frames,
//! and the raw file streams between them (docs/backup.md §1.5, §1.6), through the shared
//! codec of the `mobilebackup2` crate. File bytes of uploads cross the phone's link model
//! and its fault model (counted as backup bytes).

use std::io::{BufRead, BufReader, BufWriter, Write};

use lockdown::codec::Format;
use lockdown::wire;
use mobilebackup2::message::MessageError;
use mobilebackup2::stream::{self, Decoder, Event, StreamError};
use mobilebackup2::{DlMessage, StatusResponse};
use usbmux::UsbmuxStream;

use crate::faults::{Cut, FaultModel};
use crate::link::{Link, Pacer};
use crate::service::ServiceContext;

/// Largest DeviceLink frame accepted from the host (a Manifest-sized status payload).
const MAX_FRAME: u32 = 64 << 20;
/// Largest file the phone takes from the host in a download (a Manifest.db).
pub const MAX_DOWNLOAD: usize = 512 << 20;

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("the host closed the connection")]
    Closed,
    #[error("the connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("a frame: {0}")]
    Frame(String),
    #[error("a DeviceLink message: {0}")]
    Message(#[from] MessageError),
    #[error("a raw file stream: {0}")]
    Stream(#[from] StreamError),
    #[error("the host answered {0} where a status was due")]
    Unexpected(String),
    #[error("a fault cut the connection")]
    Cut,
}

/// A file the host sent in a download: its bytes, or its error.
pub type Downloaded = (String, Result<Vec<u8>, String>);

pub struct Host {
    reader: BufReader<UsbmuxStream>,
    writer: BufWriter<UsbmuxStream>,
    pacer: Pacer,
    link: Link,
    faults: FaultModel,
    context: ServiceContext,
    stalled: bool,
}

impl Host {
    pub fn new(stream: UsbmuxStream, context: ServiceContext) -> Result<Host, HostError> {
        let reader = BufReader::with_capacity(64 * 1024, stream.try_clone()?);
        Ok(Host {
            reader,
            writer: BufWriter::with_capacity(128 * 1024, stream),
            pacer: Pacer::new(context.link()),
            link: context.link(),
            faults: context.backup_faults(),
            context,
            stalled: false,
        })
    }

    pub fn context(&self) -> &ServiceContext {
        &self.context
    }

    pub fn send(&mut self, message: &DlMessage) -> Result<(), HostError> {
        if self.stalled {
            return Ok(());
        }
        // Each message waits out the link's latency and crosses it at its bandwidth.
        let frame = lockdown::codec::encode_frame(&message.encode(), Format::Binary)
            .map_err(|e| HostError::Frame(e.to_string()))?;
        self.pacer
            .wait(self.link.due(std::time::Instant::now()), frame.len() as u64);
        self.writer.write_all(&frame)?;
        self.writer.flush()?;
        Ok(())
    }

    pub fn receive(&mut self) -> Result<DlMessage, HostError> {
        if self.stalled {
            // A hung phone answers nothing more; it reads until the host gives up.
            let mut sink = [0u8; 4096];
            while matches!(std::io::Read::read(&mut self.reader, &mut sink), Ok(n) if n > 0) {}
            return Err(HostError::Closed);
        }
        match wire::read_frame(&mut self.reader, MAX_FRAME) {
            Ok(Some(value)) => Ok(DlMessage::decode(value)?),
            Ok(None) => Err(HostError::Closed),
            Err(e) => Err(HostError::Frame(e.to_string())),
        }
    }

    /// The host's status reply to the request just sent.
    pub fn status(&mut self) -> Result<StatusResponse, HostError> {
        match self.receive()? {
            DlMessage::StatusResponse(status) => Ok(status),
            other => Err(HostError::Unexpected(format!("{other:?}").chars().take(200).collect())),
        }
    }

    /// Sends `message` and waits for its status.
    pub fn request(&mut self, message: &DlMessage) -> Result<StatusResponse, HostError> {
        self.send(message)?;
        self.status()
    }

    /// Writes raw stream bytes that are not file data (names, terminators).
    pub fn raw(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        if !self.stalled {
            self.writer.write_all(bytes)?;
        }
        Ok(())
    }

    /// Writes one file's bytes as 32 KiB data blocks, paced by the link and counted by the
    /// fault model (docs/backup.md §1.6).
    pub fn file_data(&mut self, bytes: &[u8]) -> Result<(), HostError> {
        for block in bytes.chunks(stream::BLOCK) {
            if self.stalled {
                return Ok(());
            }
            self.pacer.stream(block.len() as u64 + 5);
            let hit = self.faults.serve(block.len() as u64);
            let mut data = block.to_vec();
            if let Some(offset) = hit.corrupt_at
                && let Some(byte) = data.get_mut(offset as usize)
            {
                *byte ^= 0x10;
            }
            self.writer.write_all(&stream::data_header(data.len()))?;
            match hit.cut {
                None => self.writer.write_all(&data)?,
                Some(Cut::DropAt(offset)) => {
                    self.writer.write_all(&data[..offset as usize / 2])?;
                    self.writer.flush()?;
                    let _ = self.writer.get_ref().shutdown(std::net::Shutdown::Both);
                    return Err(HostError::Cut);
                }
                Some(Cut::Detach) => {
                    self.writer.flush()?;
                    self.context.detach();
                    return Err(HostError::Cut);
                }
                Some(Cut::Stall) => {
                    self.writer.flush()?;
                    self.stalled = true;
                }
            }
        }
        Ok(())
    }

    pub fn flush(&mut self) -> Result<(), HostError> {
        self.writer.flush()?;
        Ok(())
    }

    /// Asks for `paths` and reads the raw stream that answers, then the status
    /// (docs/backup.md §1.6, download). A file beyond [`MAX_DOWNLOAD`] counts as failed.
    pub fn download(&mut self, paths: &[String], progress: f64) -> Result<Vec<Downloaded>, HostError> {
        self.send(&DlMessage::DownloadFiles {
            paths: paths.to_vec(),
            progress,
        })?;
        let mut decoder = Decoder::download();
        let mut files: Vec<Downloaded> = Vec::new();
        let mut current: Option<(String, Vec<u8>, bool)> = None;
        // The decoder takes what it needs from the buffer; what follows the stream (the
        // status frame) stays in it.
        while !decoder.is_done() {
            let available = self.reader.fill_buf()?;
            if available.is_empty() {
                return Err(HostError::Closed);
            }
            let (used, event) = decoder.next(available)?;
            match event {
                Some(Event::FileStart { path, .. }) => current = Some((path, Vec::new(), false)),
                Some(Event::Data(data)) => {
                    if let Some((_, bytes, too_big)) = current.as_mut() {
                        if bytes.len() + data.len() > MAX_DOWNLOAD {
                            *too_big = true;
                            bytes.clear();
                        } else if !*too_big {
                            bytes.extend_from_slice(data);
                        }
                    }
                }
                Some(Event::FileDone) => {
                    if let Some((path, bytes, too_big)) = current.take() {
                        let result = if too_big {
                            Err("too large".to_string())
                        } else {
                            Ok(bytes)
                        };
                        files.push((path, result));
                    }
                }
                Some(Event::FileFailed { message, .. }) => {
                    if let Some((path, _, _)) = current.take() {
                        files.push((path, Err(message)));
                    }
                }
                Some(Event::End) | None => {}
            }
            self.reader.consume(used);
        }
        self.status()?;
        Ok(files)
    }
}

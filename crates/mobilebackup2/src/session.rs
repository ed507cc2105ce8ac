//! The host side of a mobilebackup2 connection over any byte stream: the DeviceLink
//! handshake (docs/backup.md §1.2, §1.3), the requests (§1.4), and the device-driven loop
//! that answers every `DLMessage*` with a status (§1.5–§1.7) through a [`BackupStore`].
//!
//! The stream's own read/write timeout is the tick at which silence is counted
//! ([`Limits`]); set it short (a second) on a socket. Without one, reads simply block.

use std::io::{self, BufRead, BufReader, Read, Write};

use lockdown::codec::Format;
use lockdown::wire::{self, WireError};
use plist::{Dictionary, Value};

use crate::message::{DEVICE_LINK_VERSION, DlMessage, MessageError, StatusResponse};
use crate::observer::{Observer, Phase};
use crate::path::{DevicePath, PathRefused};
use crate::patient::{GaveUp, Limits, Patient, Signals};
use crate::request::{Request, Response, SUPPORTED_VERSIONS};
use crate::store::{BackupStore, EntryKind, code, status_code};
use crate::stream::{self, Decoder, Event, StreamError};

/// The largest plist frame accepted from the device. Grown as bytes arrive, never
/// allocated from the length prefix.
pub const MAX_FRAME: u32 = 32 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    GaveUp(GaveUp),
    #[error("the iPhone speaks DeviceLink version {0}, newer than the {DEVICE_LINK_VERSION} lifeboat knows")]
    VersionTooNew(u64),
    #[error("the iPhone offers none of the backup protocol versions 2.0 and 2.1 (error {0})")]
    NoCommonVersion(u64),
    #[error("the iPhone sent {got} where {expected} belongs")]
    Unexpected { expected: &'static str, got: String },
    #[error("the iPhone's final answer has no error code")]
    NoErrorCode,
    #[error("the iPhone closed the backup connection before its final answer; check the cable and try again")]
    Closed,
    #[error("the iPhone ended the backup connection before its final answer{}", if .0.is_empty() { String::new() } else { format!(": {}", .0) })]
    Disconnected(String),
    #[error(transparent)]
    Message(#[from] MessageError),
    #[error("the iPhone's file stream is malformed: {0}")]
    Stream(#[from] StreamError),
    #[error("the backup connection failed: {0}")]
    Frame(WireError),
    #[error("the backup connection failed: {0}")]
    Io(io::Error),
}

impl From<io::Error> for SessionError {
    fn from(error: io::Error) -> Self {
        match GaveUp::of(&error) {
            Some(why) => SessionError::GaveUp(why),
            None => SessionError::Io(error),
        }
    }
}

impl From<WireError> for SessionError {
    fn from(error: WireError) -> Self {
        match error {
            WireError::Io(e) => e.into(),
            other => SessionError::Frame(other),
        }
    }
}

/// What the run met besides the final answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Files received whole.
    pub files: u64,
    /// Bytes received, in whole and partial files.
    pub bytes: u64,
    /// Files the device could not read (a 0x0B block): the backup goes on without them.
    pub warnings: Vec<String>,
    /// Paths refused as outside the backup or malformed.
    pub refused: Vec<String>,
    /// Local failures answered with an error status.
    pub errors: Vec<String>,
    /// The largest `DLMessagePurgeDiskSpace` amount asked for: the device's free-space
    /// deficit plus 2 GiB (docs/backup.md §1.10).
    pub purge_requested: Option<u64>,
}

/// The device's final answer and the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    pub response: Response,
    pub report: Report,
}

impl Finished {
    pub fn ok(&self) -> bool {
        self.response.error_code == 0
    }
}

impl<S: Read + Write> std::fmt::Debug for Session<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("udid", &self.udid)
            .field("protocol_version", &self.protocol_version)
            .finish_non_exhaustive()
    }
}

/// A connection past the handshake.
pub struct Session<S: Read + Write> {
    io: BufReader<Patient<S>>,
    udid: String,
    protocol_version: f64,
}

impl<S: Read + Write> Session<S> {
    /// Version exchange, `DeviceReady` and `Hello`.
    pub fn connect(stream: S, udid: &str, limits: Limits, signals: Signals) -> Result<Session<S>, SessionError> {
        let patient = Patient {
            inner: stream,
            limits,
            signals,
        };
        let mut session = Session {
            io: BufReader::with_capacity(256 * 1024, patient),
            udid: udid.to_string(),
            protocol_version: 0.0,
        };
        match session.receive()? {
            DlMessage::VersionExchange { major, .. } if major <= DEVICE_LINK_VERSION => {}
            DlMessage::VersionExchange { major, .. } => return Err(SessionError::VersionTooNew(major)),
            other => return Err(unexpected("the DeviceLink version", &other)),
        }
        session.send(&DlMessage::VersionsOk {
            major: DEVICE_LINK_VERSION,
        })?;
        match session.receive()? {
            DlMessage::DeviceReady => {}
            other => return Err(unexpected("DLMessageDeviceReady", &other)),
        }
        session.send(&DlMessage::ProcessMessage(
            Request::Hello {
                versions: SUPPORTED_VERSIONS.to_vec(),
            }
            .encode(),
        ))?;
        let hello = match session.receive()? {
            DlMessage::ProcessMessage(d) => Response::decode(&d).ok_or(SessionError::NoErrorCode)?,
            other => return Err(unexpected("the answer to Hello", &other)),
        };
        if hello.error_code != 0 {
            return Err(SessionError::NoCommonVersion(hello.error_code));
        }
        session.protocol_version = hello.protocol_version.unwrap_or(2.0);
        Ok(session)
    }

    /// The protocol version the device chose.
    pub fn protocol_version(&self) -> f64 {
        self.protocol_version
    }

    /// A backup; the device decides full or incremental unless `force_full`.
    pub fn backup(
        &mut self,
        force_full: bool,
        store: &mut dyn BackupStore,
        observer: &mut dyn Observer,
    ) -> Result<Finished, SessionError> {
        let request = Request::Backup {
            target: self.udid.clone(),
            source: Some(self.udid.clone()),
            force_full,
        };
        self.request(&request, store, observer)
    }

    /// `Info`: the device reads the backup folder and describes it.
    pub fn info(&mut self, store: &mut dyn BackupStore, observer: &mut dyn Observer) -> Result<Finished, SessionError> {
        let request = Request::Info {
            target: self.udid.clone(),
        };
        self.request(&request, store, observer)
    }

    /// Turns encryption on (`new` only), off (`old` only), or changes the password (both).
    /// The passwords go to the device and nowhere else.
    pub fn change_password(
        &mut self,
        old: Option<&str>,
        new: Option<&str>,
        store: &mut dyn BackupStore,
        observer: &mut dyn Observer,
    ) -> Result<Finished, SessionError> {
        let request = Request::ChangePassword {
            target: self.udid.clone(),
            old: old.map(str::to_string),
            new: new.map(str::to_string),
        };
        self.request(&request, store, observer)
    }

    /// Says goodbye; the connection closes when the session is dropped.
    pub fn disconnect(mut self) -> Result<(), SessionError> {
        self.send(&DlMessage::Disconnect("bye".into()))
    }

    fn request(
        &mut self,
        request: &Request,
        store: &mut dyn BackupStore,
        observer: &mut dyn Observer,
    ) -> Result<Finished, SessionError> {
        self.send(&DlMessage::ProcessMessage(request.encode()))?;
        self.serve(store, observer)
    }

    /// The device-driven loop, until its final `ProcessMessage`.
    fn serve(&mut self, store: &mut dyn BackupStore, observer: &mut dyn Observer) -> Result<Finished, SessionError> {
        let mut report = Report::default();
        let mut phase = None;
        loop {
            let message = self.receive()?;
            if let Some(percent) = message.progress() {
                observer.progress(percent);
            }
            if let Some(now) = phase_of(&message)
                && phase != Some(now)
            {
                phase = Some(now);
                observer.phase(now);
            }
            let status = match message {
                DlMessage::ProcessMessage(d) => {
                    let response = Response::decode(&d).ok_or(SessionError::NoErrorCode)?;
                    return Ok(Finished { response, report });
                }
                DlMessage::Disconnect(reason) => return Err(SessionError::Disconnected(reason)),
                DlMessage::GetFreeDiskSpace => match store.free_space() {
                    Ok(free) => StatusResponse::ok_with(Value::Integer(free.into())),
                    Err(e) => failed(&mut report, "free space", &e),
                },
                DlMessage::PurgeDiskSpace { amount } => {
                    report.purge_requested = report.purge_requested.max(Some(amount));
                    // Nothing here is purgeable; say so rather than leave the device waiting.
                    report.errors.push(format!(
                        "the iPhone asked to free {amount} bytes on this computer; lifeboat removes nothing"
                    ));
                    StatusResponse::error(code::OTHER, "Operation not supported")
                }
                DlMessage::CreateDirectory { path, .. } => match self.path(&path, &mut report, observer) {
                    Some(p) => store
                        .create_dir(&p)
                        .map_or_else(|e| failed(&mut report, p.as_str(), &e), |()| StatusResponse::ok()),
                    None => refused_status(),
                },
                DlMessage::UploadFiles { total_bytes, .. } => {
                    observer.batch(total_bytes);
                    self.upload(store, observer, &mut report)?
                }
                DlMessage::DownloadFiles { paths, .. } => self.download(&paths, store, observer, &mut report)?,
                DlMessage::ContentsOfDirectory { path } => match self.path(&path, &mut report, observer) {
                    Some(p) => match store.list_dir(&p) {
                        Ok(entries) => StatusResponse::ok_with(listing(entries)),
                        Err(e) => failed(&mut report, p.as_str(), &e),
                    },
                    None => refused_status(),
                },
                DlMessage::MoveItems { moves, .. } => {
                    let mut status = StatusResponse::ok();
                    for m in moves {
                        let (from, to) = (
                            self.path(&m.from, &mut report, observer),
                            self.path(&m.to, &mut report, observer),
                        );
                        let result = match (from, to) {
                            (Some(from), Some(to)) => store
                                .rename(&from, &to)
                                .map_err(|e| failed(&mut report, from.as_str(), &e)),
                            _ => Err(refused_status()),
                        };
                        if let (Err(e), 0) = (result, status.code) {
                            status = e;
                        }
                    }
                    status
                }
                DlMessage::RemoveItems { paths, .. } => {
                    let mut status = StatusResponse::ok();
                    for path in paths {
                        let result = match self.path(&path, &mut report, observer) {
                            Some(p) => store.remove(&p).map_err(|e| failed(&mut report, p.as_str(), &e)),
                            None => Err(refused_status()),
                        };
                        if let (Err(e), 0) = (result, status.code) {
                            status = e;
                        }
                    }
                    status
                }
                DlMessage::CopyItem { from, to } => {
                    let (from, to) = (
                        self.path(&from, &mut report, observer),
                        self.path(&to, &mut report, observer),
                    );
                    match (from, to) {
                        (Some(from), Some(to)) => store
                            .copy(&from, &to)
                            .map_or_else(|e| failed(&mut report, from.as_str(), &e), |()| StatusResponse::ok()),
                        _ => refused_status(),
                    }
                }
                DlMessage::Unknown(name) => {
                    report
                        .errors
                        .push(format!("the iPhone sent the unknown message {name}"));
                    StatusResponse::error(code::OTHER, format!("Unknown message {name}"))
                }
                other @ (DlMessage::VersionExchange { .. }
                | DlMessage::VersionsOk { .. }
                | DlMessage::DeviceReady
                | DlMessage::StatusResponse(_)) => {
                    report
                        .errors
                        .push(format!("the iPhone sent {} mid-backup", name_of(&other)));
                    StatusResponse::error(code::OTHER, "Unexpected message")
                }
            };
            self.send(&DlMessage::StatusResponse(status))?;
        }
    }

    /// The device's path, checked; a refusal is reported and `None`.
    fn path(&self, raw: &str, report: &mut Report, observer: &mut dyn Observer) -> Option<DevicePath> {
        match DevicePath::parse(raw, &self.udid) {
            Ok(p) => Some(p),
            Err(refused) => {
                refuse(report, observer, &refused);
                None
            }
        }
    }

    /// Receives the raw stream of `DLMessageUploadFiles` (docs/backup.md §1.6). One file's
    /// failure (the device's 0x0B, a refused path, a local write error) skips that file;
    /// the status names the first local error, as libimobiledevice does.
    fn upload(
        &mut self,
        store: &mut dyn BackupStore,
        observer: &mut dyn Observer,
        report: &mut Report,
    ) -> Result<StatusResponse, SessionError> {
        enum Current {
            None,
            Writing { path: DevicePath, size: u64 },
            Skipping,
        }
        let mut decoder = Decoder::upload();
        let mut current = Current::None;
        let mut first_error: Option<StatusResponse> = None;
        let mut device_name = String::new();
        while !decoder.is_done() {
            let buf = self.io.fill_buf()?;
            if buf.is_empty() {
                if let Current::Writing { .. } = current {
                    store.abort_file();
                }
                return Err(SessionError::Closed);
            }
            let (used, event) = match decoder.next(buf) {
                Ok(step) => step,
                Err(e) => {
                    if let Current::Writing { .. } = current {
                        store.abort_file();
                    }
                    return Err(e.into());
                }
            };
            match event {
                None | Some(Event::End) => {}
                Some(Event::FileStart {
                    device_name: name,
                    path,
                }) => {
                    device_name = name;
                    current = match DevicePath::parse(&path, &self.udid) {
                        Err(refused) => {
                            refuse(report, observer, &refused);
                            first_error.get_or_insert_with(refused_status);
                            Current::Skipping
                        }
                        Ok(p) => match store.begin_file(&p) {
                            Ok(()) => Current::Writing { path: p, size: 0 },
                            Err(e) => {
                                let status = failed(report, p.as_str(), &e);
                                first_error.get_or_insert(status);
                                Current::Skipping
                            }
                        },
                    };
                }
                Some(Event::Data(data)) => {
                    report.bytes += data.len() as u64;
                    observer.received(data.len() as u64);
                    if let Current::Writing { path, size } = &mut current {
                        *size += data.len() as u64;
                        if let Err(e) = store.write_file(data) {
                            store.abort_file();
                            let status = failed(report, path.as_str(), &e);
                            first_error.get_or_insert(status);
                            current = Current::Skipping;
                        }
                    }
                }
                Some(Event::FileDone) => {
                    if let Current::Writing { path, size } = std::mem::replace(&mut current, Current::None) {
                        match store.finish_file() {
                            Ok(()) => {
                                report.files += 1;
                                observer.file_done(&path, size);
                            }
                            Err(e) => {
                                let status = failed(report, path.as_str(), &e);
                                first_error.get_or_insert(status);
                            }
                        }
                    }
                }
                Some(Event::FileFailed { message, .. }) => {
                    if let Current::Writing { .. } = std::mem::replace(&mut current, Current::None) {
                        store.abort_file();
                    }
                    let text = format!("the iPhone could not read {device_name}: {message}");
                    observer.warning(&text);
                    report.warnings.push(text);
                }
            }
            self.io.consume(used);
        }
        Ok(first_error.unwrap_or_else(StatusResponse::ok))
    }

    /// Answers `DLMessageDownloadFiles` with a raw stream in 32 KiB blocks; files that cannot
    /// be sent get an error block each and the status is -13 "Multi status".
    fn download(
        &mut self,
        paths: &[String],
        store: &mut dyn BackupStore,
        observer: &mut dyn Observer,
        report: &mut Report,
    ) -> Result<StatusResponse, SessionError> {
        let mut errors = Dictionary::new();
        let mut block = vec![0u8; stream::BLOCK];
        for raw in paths {
            let out = self.io.get_mut();
            out.write_all(&stream::download_start(raw))?;
            let path = match DevicePath::parse(raw, &self.udid) {
                Ok(p) => p,
                Err(refused) => {
                    refuse(report, observer, &refused);
                    out.write_all(&stream::file_failed(
                        stream::CODE_ERROR_LOCAL,
                        "Operation not permitted",
                    ))?;
                    errors.insert(raw.clone(), file_error(code::OTHER, "Operation not permitted"));
                    continue;
                }
            };
            let sent = match store.open_file(&path) {
                Ok(mut file) => send_file(out, &mut *file, &mut block),
                Err(e) => Ok(Err(e)),
            }?;
            match sent {
                Ok(()) => out.write_all(&stream::FILE_DONE)?,
                Err(e) => {
                    let text = describe(&e);
                    out.write_all(&stream::file_failed(stream::CODE_ERROR_LOCAL, &text))?;
                    errors.insert(raw.clone(), file_error(status_code(&e), &text));
                }
            }
        }
        let out = self.io.get_mut();
        out.write_all(&stream::END)?;
        out.flush()?;
        Ok(if errors.is_empty() {
            StatusResponse::ok()
        } else {
            StatusResponse {
                code: code::MULTI_STATUS,
                description: Some("Multi status".into()),
                payload: Some(Value::Dictionary(errors)),
            }
        })
    }

    fn send(&mut self, message: &DlMessage) -> Result<(), SessionError> {
        wire::write_frame(self.io.get_mut(), &message.encode(), Format::Binary)?;
        Ok(())
    }

    fn receive(&mut self) -> Result<DlMessage, SessionError> {
        match wire::read_frame(&mut self.io, MAX_FRAME)? {
            Some(value) => Ok(DlMessage::decode(value)?),
            None => Err(SessionError::Closed),
        }
    }
}

/// Sends one file's data blocks. The outer result is the connection's, the inner the
/// local file's (reported to the device in an error block).
fn send_file(out: &mut impl Write, file: &mut dyn Read, block: &mut [u8]) -> io::Result<io::Result<()>> {
    loop {
        let n = match file.read(block) {
            Ok(0) => return Ok(Ok(())),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Ok(Err(e)),
        };
        out.write_all(&stream::data_header(n))?;
        out.write_all(&block[..n])?;
    }
}

fn describe(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "No such file or directory".into(),
        _ => error.to_string(),
    }
}

fn file_error(code: i64, text: &str) -> Value {
    let mut d = Dictionary::new();
    d.insert("DLFileErrorString".into(), text.into());
    d.insert("DLFileErrorCode".into(), Value::Integer(code.into()));
    Value::Dictionary(d)
}

fn failed(report: &mut Report, what: &str, error: &io::Error) -> StatusResponse {
    report.errors.push(format!("{what}: {error}"));
    StatusResponse::error(status_code(error), describe(error))
}

fn refuse(report: &mut Report, observer: &mut dyn Observer, refused: &PathRefused) {
    let text = refused.to_string();
    observer.warning(&text);
    report.refused.push(text);
}

fn refused_status() -> StatusResponse {
    StatusResponse::error(code::OTHER, "Operation not permitted")
}

fn listing(entries: Vec<crate::store::Entry>) -> Value {
    let mut d = Dictionary::new();
    for entry in entries {
        let mut e = Dictionary::new();
        let kind = match entry.kind {
            EntryKind::File => "DLFileTypeRegular",
            EntryKind::Directory => "DLFileTypeDirectory",
            EntryKind::Other => "DLFileTypeUnknown",
        };
        e.insert("DLFileType".into(), kind.into());
        e.insert("DLFileSize".into(), Value::Integer(entry.size.into()));
        e.insert("DLFileModificationDate".into(), Value::Date(entry.modified.into()));
        d.insert(entry.name, Value::Dictionary(e));
    }
    Value::Dictionary(d)
}

fn phase_of(message: &DlMessage) -> Option<Phase> {
    Some(match message {
        DlMessage::DownloadFiles { .. } | DlMessage::ContentsOfDirectory { .. } => Phase::Checking,
        DlMessage::UploadFiles { .. } => Phase::Receiving,
        DlMessage::MoveItems { .. } => Phase::Moving,
        DlMessage::RemoveItems { .. } => Phase::Removing,
        _ => return None,
    })
}

fn name_of(message: &DlMessage) -> String {
    match message.encode() {
        Value::Array(items) => items
            .first()
            .and_then(Value::as_string)
            .unwrap_or("a message")
            .to_string(),
        _ => "a message".into(),
    }
}

fn unexpected(expected: &'static str, got: &DlMessage) -> SessionError {
    SessionError::Unexpected {
        expected,
        got: name_of(got),
    }
}

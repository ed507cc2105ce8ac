//! The host session against a scripted device: messages encoded with the codec on one end
//! of a socket pair, the session and an in-memory store on the other.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::Ordering;
use std::thread;
use std::time::{Duration, SystemTime};

use lockdown::codec::Format;
use lockdown::wire;
use plist::{Dictionary, Value};

use crate::message::{DlMessage, Move, StatusResponse};
use crate::observer::Observer;
use crate::path::DevicePath;
use crate::patient::{GaveUp, Limits, Signals};
use crate::request::{Request, Response};
use crate::session::{Session, SessionError};
use crate::store::{BackupStore, Entry, EntryKind};
use crate::stream;

const UDID: &str = "00008110-TEST";

#[derive(Default)]
struct MemoryStore {
    files: BTreeMap<String, Vec<u8>>,
    dirs: BTreeSet<String>,
    current: Option<(String, Vec<u8>)>,
    /// Every path an operation touched, to prove no refused one got through.
    touched: Vec<String>,
}

impl MemoryStore {
    fn touch(&mut self, path: &DevicePath) {
        self.touched.push(path.as_str().to_string());
    }
}

impl BackupStore for MemoryStore {
    fn create_dir(&mut self, path: &DevicePath) -> io::Result<()> {
        self.touch(path);
        self.dirs.insert(path.as_str().into());
        Ok(())
    }
    fn begin_file(&mut self, path: &DevicePath) -> io::Result<()> {
        self.touch(path);
        self.current = Some((path.as_str().into(), Vec::new()));
        Ok(())
    }
    fn write_file(&mut self, data: &[u8]) -> io::Result<()> {
        self.current.as_mut().expect("a file").1.extend_from_slice(data);
        Ok(())
    }
    fn finish_file(&mut self) -> io::Result<()> {
        let (path, bytes) = self.current.take().expect("a file");
        self.files.insert(path, bytes);
        Ok(())
    }
    fn abort_file(&mut self) {
        self.current = None;
    }
    fn open_file(&mut self, path: &DevicePath) -> io::Result<Box<dyn Read + '_>> {
        self.touch(path);
        match self.files.get(path.as_str()) {
            Some(bytes) => Ok(Box::new(&bytes[..])),
            None => Err(io::ErrorKind::NotFound.into()),
        }
    }
    fn list_dir(&mut self, path: &DevicePath) -> io::Result<Vec<Entry>> {
        self.touch(path);
        let prefix = format!("{}/", path.as_str());
        Ok(self
            .files
            .iter()
            .filter_map(|(p, bytes)| {
                let name = p.strip_prefix(&prefix)?;
                (!name.contains('/')).then(|| Entry {
                    name: name.into(),
                    kind: EntryKind::File,
                    size: bytes.len() as u64,
                    modified: SystemTime::UNIX_EPOCH,
                })
            })
            .collect())
    }
    fn rename(&mut self, from: &DevicePath, to: &DevicePath) -> io::Result<()> {
        self.touch(from);
        self.touch(to);
        let bytes = self.files.remove(from.as_str()).ok_or(io::ErrorKind::NotFound)?;
        self.files.insert(to.as_str().into(), bytes);
        Ok(())
    }
    fn remove(&mut self, path: &DevicePath) -> io::Result<()> {
        self.touch(path);
        let prefix = format!("{}/", path.as_str());
        self.files.retain(|p, _| p != path.as_str() && !p.starts_with(&prefix));
        Ok(())
    }
    fn copy(&mut self, from: &DevicePath, to: &DevicePath) -> io::Result<()> {
        self.touch(from);
        self.touch(to);
        let bytes = self.files.get(from.as_str()).cloned().ok_or(io::ErrorKind::NotFound)?;
        self.files.insert(to.as_str().into(), bytes);
        Ok(())
    }
    fn free_space(&mut self) -> io::Result<u64> {
        Ok(123_456_789)
    }
}

/// The device end of the socket.
struct Device {
    stream: UnixStream,
}

impl Device {
    fn send(&mut self, message: &DlMessage) {
        self.value(&message.encode());
    }
    fn value(&mut self, value: &Value) {
        wire::write_frame(&mut self.stream, value, Format::Binary).unwrap();
    }
    fn raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }
    fn receive(&mut self) -> DlMessage {
        DlMessage::decode(wire::read_frame(&mut self.stream, 1 << 24).unwrap().expect("a message")).unwrap()
    }
    fn status(&mut self) -> StatusResponse {
        match self.receive() {
            DlMessage::StatusResponse(s) => s,
            other => panic!("expected a status, got {other:?}"),
        }
    }
    fn handshake(&mut self) {
        self.send(&DlMessage::VersionExchange { major: 400, minor: 0 });
        assert_eq!(self.receive(), DlMessage::VersionsOk { major: 400 });
        self.send(&DlMessage::DeviceReady);
        let DlMessage::ProcessMessage(hello) = self.receive() else {
            panic!("Hello")
        };
        assert!(matches!(Request::decode(&hello), Ok(Request::Hello { .. })));
        let answer = Response {
            protocol_version: Some(2.1),
            ..Response::ok()
        };
        self.send(&DlMessage::ProcessMessage(answer.encode()));
    }
    fn request(&mut self) -> Request {
        let DlMessage::ProcessMessage(d) = self.receive() else {
            panic!("a request")
        };
        Request::decode(&d).unwrap()
    }
    fn finish(&mut self, code: u64) {
        let response = if code == 0 {
            Response::ok()
        } else {
            Response::error(code, format!("failed (MBErrorDomain/{code})"))
        };
        self.send(&DlMessage::ProcessMessage(response.encode()));
    }
    /// An upload of files, each `Ok(bytes)` or `Err(device error text)`.
    fn upload(&mut self, files: &[(&str, Result<&[u8], &str>)]) -> StatusResponse {
        let total = files.iter().map(|(_, b)| b.map_or(0, |b| b.len() as u64)).sum();
        self.send(&DlMessage::UploadFiles {
            progress: 10.0,
            total_bytes: total,
        });
        for (path, body) in files {
            self.raw(&stream::upload_start("/var/mobile/x", path));
            match body {
                Ok(bytes) => {
                    for block in bytes.chunks(5) {
                        self.raw(&stream::data_header(block.len()));
                        self.raw(block);
                    }
                    self.raw(&stream::FILE_DONE);
                }
                Err(text) => self.raw(&stream::file_failed(stream::CODE_ERROR_REMOTE, text)),
            }
        }
        self.raw(&stream::END);
        self.status()
    }
    /// Reads a download stream: path → bytes or error text.
    fn read_download(&mut self) -> Vec<(String, Result<Vec<u8>, String>)> {
        let mut decoder = stream::Decoder::download();
        let mut out: Vec<(String, Result<Vec<u8>, String>)> = Vec::new();
        let mut buf = [0u8; 1];
        while !decoder.is_done() {
            self.stream.read_exact(&mut buf).unwrap();
            let mut rest = &buf[..];
            while !rest.is_empty() {
                let (used, event) = decoder.next(rest).unwrap();
                rest = &rest[used..];
                match event {
                    Some(stream::Event::FileStart { path, .. }) => out.push((path, Ok(Vec::new()))),
                    Some(stream::Event::Data(d)) => out.last_mut().unwrap().1.as_mut().unwrap().extend_from_slice(d),
                    Some(stream::Event::FileFailed { message, .. }) => out.last_mut().unwrap().1 = Err(message),
                    _ => {}
                }
            }
        }
        out
    }
}

fn path(inner: &str) -> String {
    format!("{UDID}/{inner}")
}

#[derive(Default)]
struct Seen {
    progress: Vec<f64>,
    batches: Vec<u64>,
    bytes: u64,
    files: Vec<String>,
    warnings: Vec<String>,
}

impl Observer for Seen {
    fn progress(&mut self, percent: f64) {
        self.progress.push(percent);
    }
    fn batch(&mut self, total: u64) {
        self.batches.push(total);
    }
    fn received(&mut self, bytes: u64) {
        self.bytes += bytes;
    }
    fn file_done(&mut self, path: &DevicePath, _size: u64) {
        self.files.push(path.to_string());
    }
    fn warning(&mut self, text: &str) {
        self.warnings.push(text.into());
    }
}

/// Runs `script` as the device and a backup as the host.
fn run_backup<T: Send + 'static>(
    store: &mut MemoryStore,
    limits: Limits,
    signals: Signals,
    tick: Duration,
    script: impl FnOnce(&mut Device) -> T + Send + 'static,
) -> (Result<crate::Finished, SessionError>, Seen, T) {
    let (host, device) = UnixStream::pair().unwrap();
    host.set_read_timeout(Some(tick)).unwrap();
    let phone = thread::spawn(move || {
        let mut device = Device { stream: device };
        script(&mut device)
    });
    let mut seen = Seen::default();
    let result = Session::connect(host, UDID, limits, signals).and_then(|mut s| s.backup(false, store, &mut seen));
    let out = phone.join().unwrap();
    (result, seen, out)
}

fn fast() -> Limits {
    Limits {
        device: Duration::from_secs(5),
        passcode: Duration::from_secs(10),
    }
}

#[test]
fn every_message_is_answered() {
    let mut store = MemoryStore::default();
    store.files.insert(path("Manifest.db"), b"old manifest".to_vec());
    let (result, seen, statuses) = run_backup(&mut store, fast(), Signals::default(), Duration::from_secs(1), |d| {
        d.handshake();
        assert!(matches!(d.request(), Request::Backup { force_full: false, .. }));
        let mut s = Vec::new();
        d.send(&DlMessage::GetFreeDiskSpace);
        s.push(d.status());
        d.send(&DlMessage::DownloadFiles {
            paths: vec![path("Manifest.db"), path("Status.plist")],
            progress: 1.0,
        });
        let got = d.read_download();
        assert_eq!(got[0], (path("Manifest.db"), Ok(b"old manifest".to_vec())));
        assert_eq!(got[1], (path("Status.plist"), Err("No such file or directory".into())));
        s.push(d.status());
        d.send(&DlMessage::CreateDirectory {
            path: path("Snapshot/ab"),
            progress: 2.0,
        });
        s.push(d.status());
        s.push(d.upload(&[
            (&path("Snapshot/ab/abcd"), Ok(b"hello world, a file of some bytes")),
            (&path("Snapshot/Manifest.db"), Ok(b"new manifest")),
            (&path("Snapshot/ef/backup_manifest.db"), Err("Operation not permitted")),
        ]));
        d.send(&DlMessage::ContentsOfDirectory {
            path: path("Snapshot/ab"),
        });
        s.push(d.status());
        d.send(&DlMessage::MoveItems {
            moves: vec![Move {
                from: path("Snapshot/ab/abcd"),
                to: path("ab/abcd"),
            }],
            progress: 90.0,
        });
        s.push(d.status());
        // The *Files spelling of Move and Remove is served the same.
        let mut moves = Dictionary::new();
        moves.insert(path("Snapshot/Manifest.db"), Value::String(path("Manifest.db")));
        d.value(&Value::Array(vec![
            "DLMessageMoveFiles".into(),
            Value::Dictionary(moves),
            Value::Dictionary(Dictionary::new()),
            Value::Real(95.0),
        ]));
        s.push(d.status());
        d.send(&DlMessage::CopyItem {
            from: path("ab/abcd"),
            to: path("ab/copy"),
        });
        s.push(d.status());
        d.value(&Value::Array(vec![
            "DLMessageRemoveFiles".into(),
            Value::Array(vec![path("Snapshot").into(), path("missing").into()]),
            Value::Dictionary(Dictionary::new()),
            Value::Real(99.0),
        ]));
        s.push(d.status());
        d.send(&DlMessage::PurgeDiskSpace { amount: 1 << 30 });
        s.push(d.status());
        d.send(&DlMessage::Unknown("DLMessageSomethingNew".into()));
        s.push(d.status());
        d.finish(0);
        s
    });
    let finished = result.unwrap();
    assert!(finished.ok());
    let codes: Vec<i64> = statuses.iter().map(|s| s.code).collect();
    assert_eq!(codes, [0, -13, 0, 0, 0, 0, 0, 0, 0, -1, -1]);
    assert_eq!(statuses[0].payload, Some(Value::Integer(123_456_789u64.into())));
    let Some(Value::Dictionary(multi)) = &statuses[1].payload else {
        panic!("multi status payload")
    };
    assert!(multi.contains_key(&path("Status.plist")));
    let Some(Value::Dictionary(listing)) = &statuses[4].payload else {
        panic!("a listing")
    };
    assert_eq!(
        listing["abcd"].as_dictionary().unwrap()["DLFileType"].as_string(),
        Some("DLFileTypeRegular")
    );
    assert_eq!(store.files[&path("ab/abcd")], b"hello world, a file of some bytes");
    assert_eq!(store.files[&path("ab/copy")], b"hello world, a file of some bytes");
    assert_eq!(store.files[&path("Manifest.db")], b"new manifest");
    assert!(!store.files.keys().any(|p| p.contains("Snapshot")));
    assert_eq!(finished.report.files, 2);
    assert_eq!(finished.report.warnings.len(), 1, "{:?}", finished.report);
    assert!(finished.report.warnings[0].contains("Operation not permitted"));
    assert_eq!(seen.batches, [45]);
    assert_eq!(seen.bytes, 45);
    assert_eq!(seen.files.len(), 2);
    assert!(seen.progress.contains(&99.0));
    assert!(
        finished.report.errors.iter().any(|e| e.contains("free")),
        "purge reported"
    );
}

#[test]
fn hostile_paths_are_refused_and_never_reach_the_store() {
    let hostile = [
        "../escape",
        "/etc/passwd",
        "OTHER/Status.plist",
        "00008110-TEST/../x",
        "00008110-TEST/a\\b",
        "00008110-TEST/a\0b",
    ];
    let mut store = MemoryStore::default();
    let (result, _, statuses) = run_backup(
        &mut store,
        fast(),
        Signals::default(),
        Duration::from_secs(1),
        move |d| {
            d.handshake();
            d.request();
            let mut s = Vec::new();
            for bad in hostile {
                d.send(&DlMessage::CreateDirectory {
                    path: bad.into(),
                    progress: 0.0,
                });
                s.push(d.status());
                d.send(&DlMessage::ContentsOfDirectory { path: bad.into() });
                s.push(d.status());
                d.send(&DlMessage::RemoveItems {
                    paths: vec![bad.into()],
                    progress: 0.0,
                });
                s.push(d.status());
                d.send(&DlMessage::MoveItems {
                    moves: vec![Move {
                        from: path("a"),
                        to: bad.into(),
                    }],
                    progress: 0.0,
                });
                s.push(d.status());
                d.send(&DlMessage::DownloadFiles {
                    paths: vec![bad.into()],
                    progress: 0.0,
                });
                assert!(d.read_download()[0].1.is_err());
                s.push(d.status());
                s.push(d.upload(&[(bad, Ok(b"evil")), (&path("ok/file"), Ok(b"fine"))]));
            }
            d.finish(0);
            s
        },
    );
    let finished = result.unwrap();
    assert!(statuses.iter().all(|s| s.code != 0), "{statuses:?}");
    assert!(
        store.touched.iter().all(|p| p.starts_with("00008110-TEST/")),
        "{:?}",
        store.touched
    );
    assert!(!store.touched.iter().any(|p| p.contains("..") || p.contains('\\')));
    assert_eq!(store.files.len(), 1, "only the good file: {:?}", store.files.keys());
    assert_eq!(finished.report.refused.len(), hostile.len() * 6);
}

#[test]
fn a_failed_backup_returns_the_device_code() {
    let mut store = MemoryStore::default();
    let (result, _, ()) = run_backup(&mut store, fast(), Signals::default(), Duration::from_secs(1), |d| {
        d.handshake();
        d.request();
        d.finish(105);
    });
    let finished = result.unwrap();
    assert!(!finished.ok());
    assert_eq!(finished.response.error_code, 105);
}

#[test]
fn a_silent_device_is_given_up_on() {
    let limits = Limits {
        device: Duration::from_millis(300),
        passcode: Duration::from_secs(60),
    };
    let mut store = MemoryStore::default();
    let started = std::time::Instant::now();
    let (result, _, ()) = run_backup(&mut store, limits, Signals::default(), Duration::from_millis(50), |d| {
        d.handshake();
        d.request();
        // Silent until the host gives up and closes.
        let mut byte = [0u8];
        let _ = d.stream.read(&mut byte);
    });
    assert!(
        matches!(result, Err(SessionError::GaveUp(GaveUp::Silent(_)))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[test]
fn the_passcode_prompt_gets_the_longer_wait() {
    let limits = Limits {
        device: Duration::from_millis(200),
        passcode: Duration::from_secs(10),
    };
    let signals = Signals::default();
    signals.passcode_prompt.store(true, Ordering::Relaxed);
    let mut store = MemoryStore::default();
    let (result, _, ()) = run_backup(&mut store, limits, signals, Duration::from_millis(50), |d| {
        d.handshake();
        d.request();
        thread::sleep(Duration::from_millis(700));
        d.finish(0);
    });
    assert!(result.unwrap().ok());
}

#[test]
fn a_cancel_request_ends_the_wait() {
    let signals = Signals::default();
    let cancel = signals.cancel.clone();
    let mut store = MemoryStore::default();
    let (result, _, ()) = run_backup(&mut store, fast(), signals, Duration::from_millis(50), move |d| {
        d.handshake();
        d.request();
        cancel.store(true, Ordering::Relaxed);
        let mut byte = [0u8];
        let _ = d.stream.read(&mut byte);
    });
    assert!(
        matches!(result, Err(SessionError::GaveUp(GaveUp::Cancelled))),
        "{result:?}"
    );
}

#[test]
fn a_newer_devicelink_and_huge_frames_are_errors() {
    let (host, device) = UnixStream::pair().unwrap();
    let phone = thread::spawn(move || {
        let mut d = Device { stream: device };
        d.send(&DlMessage::VersionExchange { major: 401, minor: 0 });
    });
    let result = Session::connect(host, UDID, fast(), Signals::default());
    assert!(matches!(result, Err(SessionError::VersionTooNew(401))));
    phone.join().unwrap();

    let (host, device) = UnixStream::pair().unwrap();
    let phone = thread::spawn(move || {
        let mut d = Device { stream: device };
        d.raw(&[0xff, 0xff, 0xff, 0xff, b'b']);
    });
    let result = Session::connect(host, UDID, fast(), Signals::default());
    assert!(matches!(result, Err(SessionError::Frame(_))), "{result:?}");
    phone.join().unwrap();
}

#[test]
fn a_truncated_upload_is_an_error_and_leaves_no_file() {
    let mut store = MemoryStore::default();
    let (result, _, ()) = run_backup(&mut store, fast(), Signals::default(), Duration::from_secs(1), |d| {
        d.handshake();
        d.request();
        d.send(&DlMessage::UploadFiles {
            progress: 1.0,
            total_bytes: 10,
        });
        d.raw(&stream::upload_start("x", &path("ab/half")));
        d.raw(&stream::data_header(10));
        d.raw(b"abc");
    });
    assert!(matches!(result, Err(SessionError::Closed)), "{result:?}");
    assert!(store.files.is_empty() && store.current.is_none());
}

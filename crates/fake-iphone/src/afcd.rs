//! The simulated AFC service (`com.apple.afc`) over the phone's media folder, as
//! docs/protocol.md §3 describes a phone: requests answered in arrival order with their packet
//! numbers, `.` and `..` first in listings, six GetFileInfo keys with nanosecond times,
//! 48-byte status replies, and the error codes real phones give. Every path is confined to
//! the media folder, whatever the request says.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant, UNIX_EPOCH};

use afc::codec::{Reply, Request};
use afc::kv::{FileInfo, FileKind, encode_pairs};
use afc::{AfcStatus, wire};
use usbmux::UsbmuxStream;

use crate::faults::{Cut, FaultModel};
use crate::link::{Link, Pacer};
use crate::service::{Service, ServiceContext};

/// Writes may be large; reads are capped per reply.
const MAX_REQUEST: u64 = 64 << 20;
const MAX_READ: u64 = 16 << 20;
/// afcd runs out of file slots eventually ("No file slots", libimobiledevice #284).
const MAX_OPEN_FILES: usize = 256;

/// AFC as a registered service.
pub struct Afc;

impl Service for Afc {
    fn name(&self) -> &'static str {
        afc::connect::SERVICE
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        serve(stream, context);
    }
}

struct Afcd {
    root: PathBuf,
    handles: HashMap<u64, File>,
    /// For each read-only handle, a second descriptor of its file (with a position of its
    /// own), which the sender serves reads from without copying them through here.
    send_files: HashMap<u64, Arc<File>>,
    next_handle: u64,
    model: String,
    faults: FaultModel,
    /// This connection, as the holder of the phone's sync lock.
    connection: u64,
    sync_lock: Arc<std::sync::Mutex<Option<u64>>>,
    /// Handles open on the sync lock file.
    lock_handles: std::collections::HashSet<u64>,
    /// `FileRefReadWithOffset` exists: iOS 7 and later (docs/protocol.md §3.2).
    reads_at_offset: bool,
    /// Refuse to open a second file while one is open (the strict test mode).
    one_file_open: bool,
    /// Folders' real locations (after symlinks), found once per connection: confining a
    /// path then costs one look at its last component, not one per component.
    real_folders: HashMap<PathBuf, PathBuf>,
}

/// Folders whose real location is kept at most, per connection.
const REAL_FOLDERS: usize = 4096;

/// The file backup hosts lock while they sync (docs/backup.md §1.9 step 5).
const LOCK_SYNC: &str = "com.apple.itunes.lock_sync";
/// `FileRefLock` operations: shared 1, exclusive 2, unlock 8, with non-blocking 4.
const LOCK_EXCLUSIVE: u64 = 2;
const LOCK_UNLOCK: u64 = 8;

static NEXT_CONNECTION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// What to do with a reply, after the faults have had their say.
enum Outcome {
    Send(Reply),
    /// A Data reply of `len` bytes of `file` from `offset`, which the sender copies from the
    /// file to the socket in the kernel (sendfile), as a phone's bytes cost this machine
    /// nothing to produce.
    SendFile {
        file: Arc<File>,
        offset: u64,
        len: u64,
    },
    /// Send only the first bytes of the encoded reply, then cut the connection.
    SendPartThenDrop(Reply, usize),
    Detach,
    Stall,
}

enum Outgoing {
    /// Due time, header, body (sent after the header, not copied next to it).
    Reply(Instant, Vec<u8>, Vec<u8>),
    /// Due time, header, then `len` bytes of the file from `offset`.
    File(Instant, Vec<u8>, Arc<File>, u64, u64),
    Close,
}

fn serve(stream: UsbmuxStream, context: ServiceContext) {
    let Ok(writer) = stream.try_clone() else {
        return;
    };
    #[cfg(target_os = "linux")]
    widen_send_buffer(&writer);
    let link = context.link();
    // Replies go to the sender in batches: those of the requests that arrived together.
    let (replies, queue) = mpsc::channel::<Vec<Outgoing>>();
    // Requests read and not yet answered, for the one-request-at-a-time afcd.
    let unanswered = Arc::new(AtomicUsize::new(0));
    let one_at_a_time = context.config().afc_one_at_a_time;
    let closer = stream.try_clone().ok();
    let sender = {
        let unanswered = Arc::clone(&unanswered);
        std::thread::spawn(move || send_replies(writer, queue, link, &unanswered))
    };
    let root = &context.config().media;
    let mut afcd = Afcd {
        root: root.canonicalize().unwrap_or_else(|_| root.clone()),
        handles: HashMap::new(),
        send_files: HashMap::new(),
        next_handle: 1,
        model: context.config().product_type.clone(),
        faults: context.faults(),
        connection: NEXT_CONNECTION.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
        sync_lock: context.sync_lock(),
        lock_handles: Default::default(),
        reads_at_offset: lockdown::ios::major(&context.config().ios_version).is_none_or(|major| major >= 7),
        real_folders: HashMap::new(),
        one_file_open: context.config().afc_one_file_open,
    };
    let mut reader = std::io::BufReader::with_capacity(64 << 10, stream);
    let mut stalled = false;
    let mut pending: Vec<Outgoing> = Vec::new();
    // False once the sender is gone (the connection is closing).
    let flush = |pending: &mut Vec<Outgoing>| pending.is_empty() || replies.send(std::mem::take(pending)).is_ok();
    // End of stream or a malformed packet: a phone drops the connection.
    while let Ok(Some((header, body))) = wire::read_packet(&mut reader, MAX_REQUEST) {
        if stalled {
            // A hung afcd reads requests and never answers.
            continue;
        }
        // An afcd that cannot pipeline drops the connection when a request arrives before
        // the one before it was answered (docs/protocol.md §3.6).
        // Seen as bytes already waiting behind this request, or a reply not yet on its way.
        if one_at_a_time && (!reader.buffer().is_empty() || unanswered.load(Ordering::SeqCst) > 0) {
            if let Some(closer) = &closer {
                let _ = closer.shutdown(std::net::Shutdown::Both);
            }
            break;
        }
        context.note_in_flight(unanswered.fetch_add(1, Ordering::SeqCst) + 1);
        let arrived = Instant::now();
        let outcome = match Request::decode(header.operation, &body) {
            Ok(request) => afcd.handle(request),
            Err(_) => Outcome::Send(Reply::Status(AfcStatus::OpHeaderInvalid)),
        };
        let due = link.due(arrived);
        let message = match outcome {
            Outcome::Send(reply) => {
                let head = reply.encode_head(header.packet_num);
                let body = match reply {
                    Reply::Data(bytes) => bytes,
                    _ => Vec::new(),
                };
                Outgoing::Reply(due, head, body)
            }
            Outcome::SendFile { file, offset, len } => {
                let head = afc::codec::Header {
                    entire_length: afc::codec::HEADER_LEN as u64 + len,
                    this_length: afc::codec::HEADER_LEN as u64,
                    packet_num: header.packet_num,
                    operation: afc::Opcode::Data as u64,
                };
                Outgoing::File(due, head.encode().to_vec(), file, offset, len)
            }
            Outcome::SendPartThenDrop(reply, keep) => {
                let mut bytes = reply.encode(header.packet_num);
                bytes.truncate(keep);
                pending.push(Outgoing::Reply(due, bytes, Vec::new()));
                Outgoing::Close
            }
            Outcome::Detach => {
                flush(&mut pending);
                context.detach();
                break;
            }
            Outcome::Stall => {
                flush(&mut pending);
                stalled = true;
                continue;
            }
        };
        let close = matches!(message, Outgoing::Close);
        pending.push(message);
        // Sent on when no further request is already here to answer with them.
        let send_now = close || reader.buffer().is_empty() || pending.len() >= REPLY_BATCH;
        if send_now && !flush(&mut pending) || close {
            break;
        }
    }
    flush(&mut pending);
    afcd.release_sync_lock();
    drop(replies);
    let _ = sender.join();
}

/// Sends replies in order, each no earlier than its due time and no faster than the link.
/// Replies already due leave together in one write, as bytes queued on a real link arrive
/// together: one write (and one wake-up of the computer) per reply would cost the simulated
/// phone and the client far more than the phone's link costs either.
fn send_replies(mut writer: UsbmuxStream, queue: mpsc::Receiver<Vec<Outgoing>>, link: Link, unanswered: &AtomicUsize) {
    let mut pacer = Pacer::new(link);
    let mut batch: Vec<u8> = Vec::new();
    let mut waiting: std::collections::VecDeque<Outgoing> = std::collections::VecDeque::new();
    let mut next_message = |block: bool| {
        if waiting.is_empty() {
            let more = if block {
                queue.recv().ok()
            } else {
                queue.try_recv().ok()
            };
            waiting.extend(more.into_iter().flatten());
        }
        waiting.pop_front()
    };
    let mut next = next_message(true);
    while let Some(message) = next.take() {
        let (due, head, body) = match message {
            Outgoing::Reply(due, head, body) => (due, head, Body::Bytes(body)),
            Outgoing::File(due, head, file, offset, len) => (due, head, Body::File(file, offset, len)),
            Outgoing::Close => {
                let _ = writer.write_all(&batch);
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
        };
        let until = pacer.schedule(due, head.len() as u64 + body.len());
        let now = Instant::now();
        if until > now {
            // What is ready leaves before the wait.
            if writer.write_all(&batch).is_err() {
                let _ = writer.shutdown(std::net::Shutdown::Both);
                return;
            }
            batch.clear();
            std::thread::sleep(until - now);
        }
        // Counted as answered before the client can see the reply, so a client that waits for
        // it is never taken for one that did not.
        let _ = unanswered.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1));
        batch.extend_from_slice(&head);
        let sent = match &body {
            Body::Bytes(bytes) => {
                batch.extend_from_slice(bytes);
                Ok(())
            }
            // File data goes straight from the file, after what is queued before it.
            Body::File(..) => writer.write_all(&batch).and_then(|()| {
                batch.clear();
                body.send(&mut writer)
            }),
        };
        // The next reply joins this write if it is already queued and the batch is small.
        next = if batch.len() < BATCH_LIMIT {
            next_message(false)
        } else {
            None
        };
        let flushed = if next.is_none() {
            let result = writer.write_all(&batch);
            batch.clear();
            result
        } else {
            Ok(())
        };
        if sent.and(flushed).is_err() {
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
        if next.is_none() {
            next = next_message(true);
        }
    }
}

/// Requests answered before their replies go to the sender together, at most.
const REPLY_BATCH: usize = 64;

/// Replies gathered into one write at most (they are small: statuses, file infos, listings).
const BATCH_LIMIT: usize = 256 << 10;

enum Body {
    Bytes(Vec<u8>),
    File(Arc<File>, u64, u64),
}

impl Body {
    fn len(&self) -> u64 {
        match self {
            Body::Bytes(bytes) => bytes.len() as u64,
            Body::File(_, _, len) => *len,
        }
    }

    fn send(&self, writer: &mut UsbmuxStream) -> std::io::Result<()> {
        let (file, offset, len) = match self {
            Body::Bytes(bytes) => return writer.write_all(bytes),
            Body::File(file, offset, len) => (file, *offset, *len),
        };
        #[cfg(target_os = "linux")]
        if let Some(socket) = writer.as_socket_fd() {
            return send_file(socket, file, offset, len);
        }
        let mut bytes = Vec::with_capacity(len as usize);
        let mut source = &**file;
        source.seek(SeekFrom::Start(offset))?;
        source.take(len).read_to_end(&mut bytes)?;
        if (bytes.len() as u64) < len {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        writer.write_all(&bytes)
    }
}

/// How many bytes of replies the socket holds before the sender waits for the computer.
/// With Linux's default (208 KiB), each 1 MiB read reply makes the simulated phone and the
/// client wake each other five times or more; with 4 MiB, about once. That work is the
/// phone's, not the client's, yet it runs on the client's machine: on a 2-core machine
/// running a loopback benchmark, it cost the phone 0.3 s of CPU per 1.2 GB with the default
/// and 0.2 s with 4 MiB. It changes no pacing: the link model waits before writing.
#[cfg(target_os = "linux")]
const SEND_BUFFER: usize = 4 << 20;

#[cfg(target_os = "linux")]
fn widen_send_buffer(writer: &UsbmuxStream) {
    if let Some(socket) = writer.as_socket_fd() {
        // The kernel caps the size at net.core.wmem_max; a smaller buffer only costs speed.
        let _ = rustix::net::sockopt::set_socket_send_buffer_size(socket, SEND_BUFFER);
    }
}

/// `len` bytes of `file` from `offset` to the socket, copied by the kernel.
#[cfg(target_os = "linux")]
fn send_file(socket: std::os::fd::BorrowedFd<'_>, file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let mut position = offset;
    let end = offset + len;
    while position < end {
        let count = usize::try_from(end - position).unwrap_or(usize::MAX);
        match rustix::fs::sendfile(socket, file, Some(&mut position), count) {
            // The file shrank after its length was read: the header promised more.
            Ok(0) => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

const SUCCESS: Result<Reply, AfcStatus> = Ok(Reply::Status(AfcStatus::Success));

/// What a fault that cuts a reply does to `reply`.
fn cut_outcome(cut: Cut, reply: Reply) -> Outcome {
    match cut {
        // The 40-byte header and part of the data make it out; then the line goes dead.
        Cut::DropAt(offset) => Outcome::SendPartThenDrop(reply, 40 + offset as usize / 2),
        Cut::Detach => Outcome::Detach,
        Cut::Stall => Outcome::Stall,
    }
}

fn status(e: &std::io::Error) -> AfcStatus {
    use std::io::ErrorKind::*;
    match e.kind() {
        NotFound => AfcStatus::ObjectNotFound,
        PermissionDenied => AfcStatus::PermDenied,
        AlreadyExists => AfcStatus::ObjectExists,
        NotADirectory => AfcStatus::ReadError,
        IsADirectory => AfcStatus::ObjectIsDir,
        DirectoryNotEmpty => AfcStatus::ObjectBusy,
        StorageFull => AfcStatus::NoSpaceLeft,
        _ => AfcStatus::IoError,
    }
}

/// The files backup hosts read for Info.plist: `/iTunes_Control/iTunes/*`, `/Books/*`.
fn is_sync_metadata(path: &str) -> bool {
    let path = path.trim_start_matches('/');
    path.starts_with("iTunes_Control/") || path.starts_with("Books/")
}

fn nanos(time: std::io::Result<std::time::SystemTime>) -> Option<u64> {
    let since = time.ok()?.duration_since(UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

impl Afcd {
    /// Maps a device path into the media folder: `.` and `..` are resolved lexically and
    /// cannot climb above the root; a leading or trailing `/` is allowed.
    fn local(&self, path: &str) -> PathBuf {
        let mut parts: Vec<&str> = Vec::new();
        for component in Path::new(path).components() {
            match component {
                Component::Normal(name) => parts.push(name.to_str().unwrap_or("")),
                Component::ParentDir => {
                    parts.pop();
                }
                _ => {}
            }
        }
        parts.iter().fold(self.root.clone(), |p, part| p.join(part))
    }

    /// Like [`local`], and refuses a path whose real location (after symlinks) is outside.
    fn confined(&mut self, path: &str) -> Result<PathBuf, AfcStatus> {
        let local = self.local(path);
        // The common case, a plain file or folder in a folder seen before: its real place is
        // its folder's real place and its name.
        if let (Some(parent), Some(name)) = (local.parent(), local.file_name())
            && let Ok(meta) = fs::symlink_metadata(&local)
            && !meta.file_type().is_symlink()
        {
            let real_parent = match self.real_folders.get(parent) {
                Some(real) => real.clone(),
                None => {
                    let real = parent.canonicalize().map_err(|_| AfcStatus::ObjectNotFound)?;
                    if self.real_folders.len() >= REAL_FOLDERS {
                        self.real_folders.clear();
                    }
                    self.real_folders.insert(parent.to_path_buf(), real.clone());
                    real
                }
            };
            return if real_parent.join(name).starts_with(&self.root) {
                Ok(local)
            } else {
                Err(AfcStatus::PermDenied)
            };
        }
        match local.canonicalize() {
            Ok(real) if real.starts_with(&self.root) => Ok(local),
            Ok(_) => Err(AfcStatus::PermDenied),
            // Not there yet (a file being created): its folder must be inside.
            Err(_) => match local.parent().map(Path::canonicalize) {
                Some(Ok(parent)) if parent.starts_with(&self.root) => Ok(local),
                Some(Ok(_)) => Err(AfcStatus::PermDenied),
                _ => Err(AfcStatus::ObjectNotFound),
            },
        }
    }

    fn handle(&mut self, request: Request) -> Outcome {
        // Faults that change or cut the bytes need them in hand; otherwise the sender
        // serves them straight from the file.
        if let Request::FileRefRead { handle, size } = request
            && self.send_files.contains_key(&handle)
            && !self.faults.touches_bytes()
        {
            return match self.read_by_reference(handle, size) {
                Ok((file, offset, len)) => match self.faults.serve(len).cut {
                    Some(cut) => cut_outcome(cut, Reply::Data(Vec::new())),
                    None => Outcome::SendFile { file, offset, len },
                },
                Err(code) => Outcome::Send(Reply::Status(code)),
            };
        }
        let is_read = matches!(
            request,
            Request::FileRefRead { .. } | Request::FileRefReadWithOffset { .. }
        );
        let reply = match self.try_handle(request) {
            Ok(reply) => reply,
            Err(code) => Reply::Status(code),
        };
        match reply {
            Reply::Data(data) if is_read => self.serve_file_bytes(data),
            reply => Outcome::Send(reply),
        }
    }

    /// Advances `handle` past the next `size` bytes as a read would, and says where they are.
    fn read_by_reference(&mut self, handle: u64, size: u64) -> Result<(Arc<File>, u64, u64), AfcStatus> {
        let file = self.handles.get_mut(&handle).ok_or(AfcStatus::InvalidArg)?;
        let offset = file.stream_position().map_err(|_| AfcStatus::ReadError)?;
        let end = file.metadata().map_err(|_| AfcStatus::ReadError)?.len();
        let len = size.min(MAX_READ).min(end.saturating_sub(offset));
        file.seek(SeekFrom::Start(offset + len))
            .map_err(|_| AfcStatus::ReadError)?;
        let send_file = self.send_files.get(&handle).ok_or(AfcStatus::InvalidArg)?;
        Ok((send_file.clone(), offset, len))
    }

    /// Counts file bytes served and applies the byte-position faults.
    fn serve_file_bytes(&mut self, mut data: Vec<u8>) -> Outcome {
        let hit = self.faults.serve(data.len() as u64);
        if let Some(offset) = hit.corrupt_at {
            data[offset as usize] ^= 0x10;
        }
        match hit.cut {
            Some(cut) => cut_outcome(cut, Reply::Data(data)),
            None => Outcome::Send(Reply::Data(data)),
        }
    }

    /// Answers one request; each kind has its handler below, named after it.
    fn try_handle(&mut self, request: Request) -> Result<Reply, AfcStatus> {
        match request {
            Request::ReadDir { path } => self.read_dir(path),
            Request::GetFileInfo { path } => self.get_file_info(path),
            Request::GetDeviceInfo => self.get_device_info(),
            Request::FileRefOpen { mode, path } => self.file_ref_open(mode, path),
            Request::FileRefRead { handle, size } => self.file_ref_read(handle, size),
            Request::FileRefReadWithOffset { .. } if !self.reads_at_offset => Err(AfcStatus::OpNotSupported),
            Request::FileRefReadWithOffset { handle, size, offset } => {
                self.file_ref_read_with_offset(handle, size, offset)
            }
            Request::FileRefWrite { handle, data } => self.file_ref_write(handle, data),
            Request::FileRefSeek { handle, whence, offset } => self.file_ref_seek(handle, whence, offset),
            Request::FileRefTell { handle } => self.file_ref_tell(handle),
            Request::FileRefClose { handle } => self.file_ref_close(handle),
            Request::FileRefLock { handle, operation } => self.file_ref_lock(handle, operation),
            Request::RemovePath { path } => self.remove_path(path),
            Request::MakeDir { path } => self.make_dir(path),
            Request::RenamePath { from, to } => self.rename_path(from, to),
            Request::SetModTime { path, mtime_ns } => self.set_mod_time(path, mtime_ns),
            Request::Other { .. } => Err(AfcStatus::OpNotSupported),
        }
    }

    fn read_dir(&mut self, path: String) -> Result<Reply, AfcStatus> {
        let dir = self.confined(&path)?;
        if !fs::metadata(&dir).map_err(|e| status(&e))?.is_dir() {
            return Err(AfcStatus::ReadError);
        }
        let mut names: Vec<String> = fs::read_dir(&dir)
            .map_err(|e| status(&e))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        self.faults.add_hostile_names(&path, &mut names);
        let mut payload = b".\0..\0".to_vec();
        for name in names {
            payload.extend_from_slice(name.as_bytes());
            payload.push(0);
        }
        Ok(Reply::Data(payload))
    }

    fn get_file_info(&mut self, path: String) -> Result<Reply, AfcStatus> {
        if self.faults.is_hostile_link(&path) {
            let info = FileInfo {
                size: 11,
                blocks: 0,
                nlink: 1,
                kind: FileKind::Symlink,
                mtime_ns: 1_600_000_000_000_000_000,
                birthtime_ns: None,
                link_target: Some("/private/etc/passwd".into()),
            };
            return Ok(Reply::Data(info.encode()));
        }
        let local = self.local(&path);
        // The link itself is described, never followed outside. The iTunes and iBooks files
        // backup hosts look for answer READ_ERROR when missing, as pymobiledevice3 expects
        // (docs/backup.md §1.9, §5.3).
        let meta = fs::symlink_metadata(&local).map_err(|e| match status(&e) {
            AfcStatus::ObjectNotFound if is_sync_metadata(&path) => AfcStatus::ReadError,
            other => other,
        })?;
        if !meta.file_type().is_symlink() {
            self.confined(&path)?;
        }
        let kind = if meta.is_dir() {
            FileKind::Directory
        } else if meta.file_type().is_symlink() {
            FileKind::Symlink
        } else if meta.is_file() {
            FileKind::File
        } else {
            FileKind::Other
        };
        let mtime_ns = nanos(meta.modified()).unwrap_or(0);
        #[cfg(unix)]
        let (blocks, nlink) = {
            use std::os::unix::fs::MetadataExt;
            (meta.blocks(), meta.nlink())
        };
        #[cfg(not(unix))]
        let (blocks, nlink) = (meta.len().div_ceil(512), 1);
        let mut size = if kind == FileKind::Directory { 64 } else { meta.len() };
        if let Some((pattern, delta)) = &self.faults.faults().wrong_size
            && kind == FileKind::File
            && path.contains(pattern.as_str())
        {
            size = size.saturating_add_signed(*delta);
        }
        let info = FileInfo {
            size,
            blocks,
            nlink,
            kind,
            mtime_ns,
            birthtime_ns: Some(nanos(meta.created()).unwrap_or(mtime_ns)),
            link_target: (kind == FileKind::Symlink)
                .then(|| fs::read_link(&local).ok().map(|t| t.to_string_lossy().into_owned()))
                .flatten(),
        };
        Ok(Reply::Data(info.encode()))
    }

    fn get_device_info(&mut self) -> Result<Reply, AfcStatus> {
        Ok(Reply::Data(encode_pairs([
            ("Model", self.model.clone()),
            ("FSTotalBytes", "127989493760".to_string()),
            ("FSFreeBytes", "37520000000".to_string()),
            ("FSBlockSize", "4096".to_string()),
        ])))
    }

    fn file_ref_open(&mut self, mode: u64, path: String) -> Result<Reply, AfcStatus> {
        if self.handles.len() >= MAX_OPEN_FILES || (self.one_file_open && self.handles.len() > self.lock_handles.len())
        {
            return Err(AfcStatus::NoResources);
        }
        let local = self.confined(&path)?;
        let mut options = OpenOptions::new();
        match mode {
            1 => options.read(true),
            2 => options.read(true).write(true).create(true),
            3 => options.write(true).create(true).truncate(true),
            4 => options.read(true).write(true).create(true).truncate(true),
            5 => options.append(true).create(true),
            6 => options.read(true).append(true).create(true),
            _ => return Err(AfcStatus::InvalidArg),
        };
        if fs::metadata(&local).is_ok_and(|m| m.is_dir()) {
            return Err(AfcStatus::ObjectIsDir);
        }
        let file = options.open(&local).map_err(|e| status(&e))?;
        // Read-only: a second descriptor, opened now, may serve its reads.
        let send_file = match mode {
            1 => Some(File::open(&local).map_err(|e| status(&e))?),
            _ => None,
        };
        let handle = self.next_handle;
        self.next_handle += 1;
        self.handles.insert(handle, file);
        if path.trim_start_matches('/') == LOCK_SYNC {
            self.lock_handles.insert(handle);
        }
        if let Some(send_file) = send_file {
            self.send_files.insert(handle, Arc::new(send_file));
        }
        Ok(Reply::FileRefOpenResult(handle))
    }

    fn file_ref_read(&mut self, handle: u64, size: u64) -> Result<Reply, AfcStatus> {
        let file = self.handles.get_mut(&handle).ok_or(AfcStatus::InvalidArg)?;
        // Sized up front: growing by doubling would copy each chunk several times.
        let mut data = Vec::with_capacity(size.min(MAX_READ) as usize);
        file.take(size.min(MAX_READ))
            .read_to_end(&mut data)
            .map_err(|_| AfcStatus::ReadError)?;
        Ok(Reply::Data(data))
    }

    fn file_ref_read_with_offset(&mut self, handle: u64, size: u64, offset: u64) -> Result<Reply, AfcStatus> {
        let file = self.handles.get_mut(&handle).ok_or(AfcStatus::InvalidArg)?;
        let mut data = vec![0u8; size.min(MAX_READ) as usize];
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, &mut data, offset).map_err(|_| AfcStatus::ReadError)?;
        #[cfg(not(unix))]
        let n = {
            let _ = (file, offset);
            return Err(AfcStatus::OpNotSupported);
        };
        data.truncate(n);
        Ok(Reply::Data(data))
    }

    fn file_ref_write(&mut self, handle: u64, data: Vec<u8>) -> Result<Reply, AfcStatus> {
        let file = self.handles.get_mut(&handle).ok_or(AfcStatus::InvalidArg)?;
        file.write_all(&data).map_err(|e| status(&e))?;
        SUCCESS
    }

    fn file_ref_seek(&mut self, handle: u64, whence: u64, offset: i64) -> Result<Reply, AfcStatus> {
        let file = self.handles.get_mut(&handle).ok_or(AfcStatus::InvalidArg)?;
        let from = match whence {
            0 => SeekFrom::Start(u64::try_from(offset).map_err(|_| AfcStatus::InvalidArg)?),
            1 => SeekFrom::Current(offset),
            2 => SeekFrom::End(offset),
            _ => return Err(AfcStatus::InvalidArg),
        };
        file.seek(from).map_err(|_| AfcStatus::InvalidArg)?;
        SUCCESS
    }

    fn file_ref_tell(&mut self, handle: u64) -> Result<Reply, AfcStatus> {
        let file = self.handles.get_mut(&handle).ok_or(AfcStatus::InvalidArg)?;
        Ok(Reply::FileRefTellResult(
            file.stream_position().map_err(|_| AfcStatus::IoError)?,
        ))
    }

    fn file_ref_close(&mut self, handle: u64) -> Result<Reply, AfcStatus> {
        self.handles.remove(&handle).ok_or(AfcStatus::InvalidArg)?;
        self.send_files.remove(&handle);
        if self.lock_handles.remove(&handle) && self.lock_handles.is_empty() {
            self.release_sync_lock();
        }
        SUCCESS
    }

    /// Locks are real for the sync lock file: one connection holds it, another asking is
    /// told `OP_WOULD_BLOCK` (19) and retries (docs/backup.md §1.9 step 5).
    fn file_ref_lock(&mut self, handle: u64, operation: u64) -> Result<Reply, AfcStatus> {
        self.handles.get(&handle).ok_or(AfcStatus::InvalidArg)?;
        if !self.lock_handles.contains(&handle) {
            return SUCCESS;
        }
        let mut holder = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        if operation & LOCK_UNLOCK != 0 {
            if *holder == Some(self.connection) {
                *holder = None;
            }
            return SUCCESS;
        }
        if operation & LOCK_EXCLUSIVE != 0 {
            match *holder {
                Some(other) if other != self.connection => return Err(AfcStatus::OpWouldBlock),
                _ => *holder = Some(self.connection),
            }
        }
        SUCCESS
    }

    /// Lets go of the sync lock, if this connection holds it.
    fn release_sync_lock(&mut self) {
        let mut holder = self.sync_lock.lock().unwrap_or_else(|p| p.into_inner());
        if *holder == Some(self.connection) {
            *holder = None;
        }
    }

    fn remove_path(&mut self, path: String) -> Result<Reply, AfcStatus> {
        let local = self.confined(&path)?;
        if local == self.root {
            return Err(AfcStatus::PermDenied);
        }
        let meta = fs::symlink_metadata(&local).map_err(|e| status(&e))?;
        let result = if meta.is_dir() {
            fs::remove_dir(&local)
        } else {
            fs::remove_file(&local)
        };
        result.map_err(|e| status(&e))?;
        SUCCESS
    }

    fn make_dir(&mut self, path: String) -> Result<Reply, AfcStatus> {
        let local = self.local(&path);
        // Creating below a file is ObjectExists on a phone.
        let mut probe = local.as_path();
        while let Some(parent) = probe.parent() {
            if fs::metadata(probe).is_ok_and(|m| !m.is_dir()) {
                return Err(AfcStatus::ObjectExists);
            }
            probe = parent;
        }
        fs::create_dir_all(&local).map_err(|e| status(&e))?;
        self.confined(&path)?;
        SUCCESS
    }

    fn rename_path(&mut self, from: String, to: String) -> Result<Reply, AfcStatus> {
        let (from, to) = (self.confined(&from)?, self.confined(&to)?);
        fs::rename(&from, &to).map_err(|e| status(&e))?;
        SUCCESS
    }

    fn set_mod_time(&mut self, path: String, mtime_ns: u64) -> Result<Reply, AfcStatus> {
        let local = self.confined(&path)?;
        let file = File::options()
            .write(true)
            .open(&local)
            .or_else(|_| File::open(&local))
            .map_err(|e| status(&e))?;
        file.set_modified(UNIX_EPOCH + Duration::from_nanos(mtime_ns))
            .map_err(|e| status(&e))?;
        SUCCESS
    }
}

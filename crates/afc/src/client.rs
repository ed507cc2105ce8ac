//! A blocking AFC client that keeps several requests in flight on one connection. The phone
//! answers in arrival order with the request's packet number, so replies are matched by
//! number and per-request latency does not cap throughput (docs/protocol.md §3.6).

use std::collections::VecDeque;
use std::io::{self, BufReader, Read, Write};
use std::time::Duration;

use crate::codec::{OpenMode, Reply, Request};
use crate::kv::{self, FileInfo};
use crate::status::AfcStatus;
use crate::wire::{self, WireError};

/// Reads this large keep the link busy without holding much memory (1 MiB, as afcclient
/// and idevice read; pymobiledevice3 reads 4 MiB).
pub const DEFAULT_CHUNK: u64 = 1 << 20;
/// Requests in flight at once; in a fetch, reads in flight, with up to twice as many files
/// open ahead (afcd has a limited number of file slots).
pub const DEFAULT_WINDOW: usize = 8;
/// Largest reply accepted: a read chunk plus headroom. Anything larger is hostile.
const MAX_REPLY: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
pub enum AfcError {
    #[error("{path}: {status}")]
    Status { path: String, status: AfcStatus },
    #[error("the phone answered {operation} with {reply}")]
    UnexpectedReply { operation: &'static str, reply: String },
    #[error("AFC replies arrived out of order (expected packet {expected}, got {got})")]
    OutOfOrder { expected: u64, got: u64 },
    #[error("bad AFC data from the phone: {0}")]
    Malformed(String),
    #[error("the phone stopped answering (no AFC reply within {0:?}); unplug it, plug it back in and try again")]
    Timeout(Duration),
    #[error("the connection to the phone was lost: {0}. Check the cable and that the phone is still plugged in")]
    Disconnected(String),
    #[error("{path}: the phone sent {got} bytes, more than the {expected} it reported")]
    TooLong { path: String, expected: u64, got: u64 },
    #[error("{path}: the phone sent {got} bytes but reported {expected}")]
    SizeMismatch { path: String, expected: u64, got: u64 },
    /// A file another source of files (a device backup folder) could not give whole: its
    /// blob missing, cut short or not decrypting. No AFC exchange is involved.
    #[error("{path}: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("writing {path} failed: {source}")]
    Sink {
        path: String,
        #[source]
        source: io::Error,
    },
}

impl AfcError {
    /// Whether this error is about one file only (the others can still be fetched), not
    /// the connection.
    pub fn is_per_file(&self) -> bool {
        matches!(
            self,
            AfcError::Status { .. } | AfcError::TooLong { .. } | AfcError::SizeMismatch { .. }
        )
    }

    /// Whether a phone answering like this may not cope with several requests in flight:
    /// a reply for a packet never sent, or the connection dropped under a pipeline
    /// (docs/protocol.md §3.6). One request at a time may then get through.
    pub fn may_be_pipelining(&self) -> bool {
        matches!(
            self,
            AfcError::OutOfOrder { .. } | AfcError::Disconnected(_) | AfcError::UnexpectedReply { .. }
        )
    }
}

fn wire_error(e: WireError, timeout: Duration) -> AfcError {
    match e {
        WireError::Codec(c) => AfcError::Malformed(c.to_string()),
        WireError::Truncated => AfcError::Disconnected("connection closed in the middle of a reply".into()),
        WireError::Io(io) => io_error(io, timeout),
    }
}

fn io_error(e: io::Error, timeout: Duration) -> AfcError {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => AfcError::Timeout(timeout),
        _ => AfcError::Disconnected(e.to_string()),
    }
}

/// How long one reply may take before the phone counts as gone.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(30);

pub type Result<T, E = AfcError> = std::result::Result<T, E>;

/// `GetDeviceInfo`: the file system the AFC root lives on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub model: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
    pub block_size: u64,
}

/// A file to fetch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub path: String,
    /// The size the phone reported; the bytes that arrive must match it.
    pub size: u64,
}

/// Receives fetched files. Calls for one file come in order: `begin`, `data`..., `end`.
pub trait FetchSink {
    fn begin(&mut self, index: usize) -> io::Result<()>;
    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()>;
    /// `data` with the buffer handed over (each reply is its own buffer), so a sink that
    /// passes bytes to another thread need not copy them.
    fn data_owned(&mut self, index: usize, bytes: Vec<u8>) -> io::Result<()> {
        self.data(index, &bytes)
    }
    /// A buffer from an earlier `data_owned` the sink is done with, for the fetch to reuse.
    fn spare(&mut self) -> Option<Vec<u8>> {
        None
    }
    /// `Ok` when every byte arrived and matched the reported size.
    fn end(&mut self, index: usize, outcome: Result<u64>) -> io::Result<()>;
}

pub struct AfcClient<S: Read + Write> {
    /// Buffered for reading only: a walk's small replies then cost one read call for many,
    /// and large bodies bypass the buffer. Requests are written to the inner stream.
    stream: BufReader<S>,
    /// Requests queued since the last flush, sent in one write.
    outgoing: Vec<u8>,
    next_packet: u64,
    /// Packet numbers sent and not yet answered, oldest first.
    in_flight: VecDeque<u64>,
    /// Buffers of finished large replies, given back for reuse.
    spare: Vec<Vec<u8>>,
    /// The read timeout the stream was given, for saying how long the phone was silent.
    timeout: Duration,
    /// The most requests kept in flight, whatever a caller asks for; 1: one at a time.
    window_cap: usize,
    /// The same for fetches alone (files open, reads and closes); 1: one file at a time.
    fetch_cap: usize,
}

/// Replies at least this large are read into reused buffers.
const REUSE_FROM: usize = 64 << 10;
/// Buffers kept for reuse: a window of reads and the queue behind it.
const SPARE_LIMIT: usize = 32;

impl<S: Read + Write> AfcClient<S> {
    pub fn new(stream: S) -> AfcClient<S> {
        AfcClient {
            stream: BufReader::with_capacity(64 << 10, stream),
            outgoing: Vec::new(),
            next_packet: 0,
            in_flight: VecDeque::new(),
            spare: Vec::new(),
            timeout: REPLY_TIMEOUT,
            window_cap: usize::MAX,
            fetch_cap: usize::MAX,
        }
    }

    /// Keeps at most `window` requests in flight on this connection, whatever a caller
    /// asks for; 1 sends each request only after the one before it was answered, for a
    /// phone that does not cope with pipelining (docs/protocol.md §3.6).
    pub fn with_window(mut self, window: usize) -> AfcClient<S> {
        self.window_cap = window.max(1);
        self
    }

    /// Fetches files one at a time on this connection (open, read, close, then the next),
    /// while other requests keep their windows: for a phone that refuses to have several
    /// files open at once (docs/protocol.md §3.6).
    pub fn with_fetch_window(mut self, window: usize) -> AfcClient<S> {
        self.fetch_cap = window.max(1);
        self
    }

    /// The window a caller's `wanted` becomes on this connection.
    pub fn window_for(&self, wanted: usize) -> usize {
        wanted.min(self.window_cap).max(1)
    }

    /// Records the read timeout the caller gave the stream, so that a silent phone is
    /// reported with the right figure.
    pub fn with_reply_timeout(mut self, timeout: Duration) -> AfcClient<S> {
        self.timeout = timeout;
        self
    }

    pub fn get_ref(&self) -> &S {
        self.stream.get_ref()
    }

    /// Queues a request; it goes out at the next [`flush`](Self::flush) or receive.
    pub fn send(&mut self, request: &Request) -> Result<u64> {
        let packet = self.next_packet;
        self.next_packet += 1;
        self.outgoing.extend_from_slice(&request.encode(packet));
        self.in_flight.push_back(packet);
        Ok(packet)
    }

    pub fn flush(&mut self) -> Result<()> {
        if !self.outgoing.is_empty() {
            let timeout = self.timeout;
            let stream = self.stream.get_mut();
            stream.write_all(&self.outgoing).map_err(|e| io_error(e, timeout))?;
            stream.flush().map_err(|e| io_error(e, timeout))?;
            self.outgoing.clear();
        }
        Ok(())
    }

    /// Gives a data buffer back (from a `Reply::Data` the caller is done with) for the next
    /// large reply.
    pub fn recycle(&mut self, buffer: Vec<u8>) {
        if self.spare.len() < SPARE_LIMIT && buffer.capacity() >= REUSE_FROM {
            self.spare.push(buffer);
        }
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// The reply to the oldest request in flight.
    pub fn receive(&mut self) -> Result<Reply> {
        self.flush()?;
        let expected = self
            .in_flight
            .pop_front()
            .ok_or_else(|| AfcError::Malformed("waiting for a reply with no request in flight".into()))?;
        let spare = &mut self.spare;
        let buffer = |len| match spare.pop() {
            Some(buffer) if len >= REUSE_FROM => buffer,
            Some(buffer) => {
                spare.push(buffer);
                Vec::new()
            }
            None => Vec::new(),
        };
        let (header, body) = wire::read_packet_with(&mut self.stream, MAX_REPLY, buffer)
            .map_err(|e| wire_error(e, self.timeout))?
            .ok_or_else(|| AfcError::Disconnected("the phone closed the AFC connection".into()))?;
        if header.packet_num != expected {
            return Err(AfcError::OutOfOrder {
                expected,
                got: header.packet_num,
            });
        }
        Reply::decode(header.operation, body).map_err(|e| AfcError::Malformed(e.to_string()))
    }

    fn call(&mut self, request: &Request) -> Result<Reply> {
        if !self.in_flight.is_empty() {
            return Err(AfcError::Malformed("call() with requests still in flight".into()));
        }
        self.send(request)?;
        self.receive()
    }

    fn expect_data(&mut self, path: &str, request: &Request, operation: &'static str) -> Result<Vec<u8>> {
        expect_data(self.call(request)?, path, operation)
    }

    fn expect_ok(&mut self, path: &str, request: &Request, operation: &'static str) -> Result<()> {
        expect_ok(self.call(request)?, path, operation)
    }

    /// Names in a folder, without `.` and `..`.
    pub fn list_dir(&mut self, path: &str) -> Result<Vec<String>> {
        let payload = self.expect_data(path, &Request::ReadDir { path: path.into() }, "ReadDir")?;
        Ok(kv::parse_names(&payload))
    }

    pub fn file_info(&mut self, path: &str) -> Result<FileInfo> {
        let payload = self.expect_data(path, &Request::GetFileInfo { path: path.into() }, "GetFileInfo")?;
        FileInfo::parse(&payload).map_err(|e| AfcError::Malformed(format!("{path}: {e}")))
    }

    /// GetFileInfo for many paths, with `window` requests in flight.
    pub fn file_infos(&mut self, paths: &[String], window: usize) -> Result<Vec<Result<FileInfo>>> {
        let mut out = Vec::with_capacity(paths.len());
        let mut sent = 0;
        let window = self.window_for(window);
        while out.len() < paths.len() {
            // Top up once half the window has drained, so requests go out many to a write.
            if self.in_flight() <= window / 2 {
                while sent < paths.len() && self.in_flight() < window {
                    self.send(&Request::GetFileInfo {
                        path: paths[sent].clone(),
                    })?;
                    sent += 1;
                }
            }
            let path = &paths[out.len()];
            let info = expect_data(self.receive()?, path, "GetFileInfo")
                .and_then(|p| FileInfo::parse(&p).map_err(|e| AfcError::Malformed(format!("{path}: {e}"))));
            out.push(info);
        }
        Ok(out)
    }

    pub fn device_info(&mut self) -> Result<DeviceInfo> {
        let payload = self.expect_data("/", &Request::GetDeviceInfo, "GetDeviceInfo")?;
        let mut info = DeviceInfo {
            model: String::new(),
            total_bytes: 0,
            free_bytes: 0,
            block_size: 0,
        };
        for pair in kv::pairs(&payload) {
            let (key, value) = pair.map_err(|e| AfcError::Malformed(e.to_string()))?;
            let number = || value.parse().unwrap_or(0);
            match &*key {
                "Model" => info.model = value.chars().take(256).collect(),
                "FSTotalBytes" => info.total_bytes = number(),
                "FSFreeBytes" => info.free_bytes = number(),
                "FSBlockSize" => info.block_size = number(),
                _ => {}
            }
        }
        Ok(info)
    }

    pub fn open(&mut self, path: &str, mode: OpenMode) -> Result<u64> {
        match self.call(&Request::FileRefOpen {
            mode: mode as u64,
            path: path.into(),
        })? {
            Reply::FileRefOpenResult(handle) => Ok(handle),
            Reply::Status(status) => Err(AfcError::Status {
                path: path.into(),
                status,
            }),
            other => Err(unexpected("FileRefOpen", &other)),
        }
    }

    pub fn close(&mut self, handle: u64) -> Result<()> {
        self.expect_ok("(open file)", &Request::FileRefClose { handle }, "FileRefClose")
    }

    /// Reads up to `size` bytes at the current position.
    pub fn read(&mut self, handle: u64, size: u64) -> Result<Vec<u8>> {
        expect_data(
            self.call(&Request::FileRefRead { handle, size })?,
            "(open file)",
            "FileRefRead",
        )
    }

    /// Reads up to `size` bytes at `offset` without moving the position (iOS 7+; older
    /// phones answer OpNotSupported).
    pub fn read_at(&mut self, handle: u64, offset: u64, size: u64) -> Result<Vec<u8>> {
        let request = Request::FileRefReadWithOffset { handle, size, offset };
        expect_data(self.call(&request)?, "(open file)", "FileRefReadWithOffset")
    }

    /// Moves the position: `whence` 0 from the start, 1 from here, 2 from the end.
    pub fn seek(&mut self, handle: u64, whence: u64, offset: i64) -> Result<()> {
        self.expect_ok(
            "(open file)",
            &Request::FileRefSeek { handle, whence, offset },
            "FileRefSeek",
        )
    }

    pub fn tell(&mut self, handle: u64) -> Result<u64> {
        match self.call(&Request::FileRefTell { handle })? {
            Reply::FileRefTellResult(position) => Ok(position),
            Reply::Status(status) => Err(AfcError::Status {
                path: "(open file)".into(),
                status,
            }),
            other => Err(unexpected("FileRefTell", &other)),
        }
    }

    /// `flock` on an open file: 5 shared, 6 exclusive, 12 unlock (with LOCK_NB).
    pub fn lock(&mut self, handle: u64, operation: u64) -> Result<()> {
        self.expect_ok(
            "(open file)",
            &Request::FileRefLock { handle, operation },
            "FileRefLock",
        )
    }

    pub fn make_dir(&mut self, path: &str) -> Result<()> {
        self.expect_ok(path, &Request::MakeDir { path: path.into() }, "MakeDir")
    }

    pub fn remove(&mut self, path: &str) -> Result<()> {
        self.expect_ok(path, &Request::RemovePath { path: path.into() }, "RemovePath")
    }

    pub fn rename(&mut self, from: &str, to: &str) -> Result<()> {
        self.expect_ok(
            from,
            &Request::RenamePath {
                from: from.into(),
                to: to.into(),
            },
            "RenamePath",
        )
    }

    pub fn set_mod_time(&mut self, path: &str, mtime_ns: u64) -> Result<()> {
        self.expect_ok(
            path,
            &Request::SetModTime {
                path: path.into(),
                mtime_ns,
            },
            "SetModTime",
        )
    }

    /// Fetches files whole, keeping up to `window` reads of up to `chunk` bytes in flight
    /// across files, and up to `2 * window` files open ahead of them, so the phone always
    /// has a read queued. Each file's reads and close are sent as soon as its handle is
    /// known; the phone handles them in order.
    /// A file's own failure is reported through `sink.end` and the others go on; a lost
    /// connection stops everything and is returned.
    pub fn fetch(&mut self, files: &[RemoteFile], chunk: u64, window: usize, sink: &mut impl FetchSink) -> Result<()> {
        match self.window_for(window).min(self.fetch_cap) {
            1 => self.fetch_one_at_a_time(files, chunk.max(1), sink),
            window => fetch::run(self, files, chunk.max(1), window, sink),
        }
    }

    /// [`fetch`](Self::fetch) with one request in flight at a time: open, each read, close.
    fn fetch_one_at_a_time(&mut self, files: &[RemoteFile], chunk: u64, sink: &mut impl FetchSink) -> Result<()> {
        for (index, file) in files.iter().enumerate() {
            let sink_err = |source: io::Error| AfcError::Sink {
                path: file.path.clone(),
                source,
            };
            sink.begin(index).map_err(sink_err)?;
            let outcome = match self.open(&file.path, OpenMode::ReadOnly) {
                Ok(handle) => {
                    let read = self.read_whole(handle, file, chunk, index, sink);
                    // Closed whatever the read gave, unless the connection itself is gone.
                    let closed = match &read {
                        Err(e) if !e.is_per_file() => Ok(()),
                        _ => self.close(handle),
                    };
                    read.and_then(|n| closed.map(|()| n))
                }
                Err(e) => Err(e),
            };
            let outcome = match outcome {
                Err(AfcError::Status { status, .. }) => Err(AfcError::Status {
                    path: file.path.clone(),
                    status,
                }),
                other => other,
            };
            match outcome {
                Err(AfcError::Sink { path, source }) => return Err(AfcError::Sink { path, source }),
                Err(e) if !e.is_per_file() => return Err(e),
                outcome => sink.end(index, outcome).map_err(sink_err)?,
            }
        }
        Ok(())
    }

    /// Reads an open file to its end, checking the bytes against the reported size.
    fn read_whole(
        &mut self,
        handle: u64,
        file: &RemoteFile,
        chunk: u64,
        index: usize,
        sink: &mut impl FetchSink,
    ) -> Result<u64> {
        let mut got = 0u64;
        // As the windowed fetch: ask for one byte more than reported, so a short read proves
        // the end; more than reported is the file's error.
        loop {
            let want = chunk.min(file.size.saturating_sub(got) + 1);
            let bytes = self.read(handle, want)?;
            let n = bytes.len() as u64;
            if n > want || got + n > file.size {
                return Err(AfcError::TooLong {
                    path: file.path.clone(),
                    expected: file.size,
                    got: got + n,
                });
            }
            got += n;
            if n > 0 {
                sink.data_owned(index, bytes).map_err(|source| AfcError::Sink {
                    path: file.path.clone(),
                    source,
                })?;
            }
            if n < want {
                break;
            }
        }
        if got != file.size {
            return Err(AfcError::SizeMismatch {
                path: file.path.clone(),
                expected: file.size,
                got,
            });
        }
        Ok(got)
    }
}

fn unexpected(operation: &'static str, reply: &Reply) -> AfcError {
    let reply = match reply {
        Reply::Status(s) => format!("status {s}"),
        Reply::Data(d) => format!("{} bytes of data", d.len()),
        Reply::FileRefOpenResult(h) => format!("a file handle {h}"),
        Reply::FileRefTellResult(p) => format!("a position {p}"),
    };
    AfcError::UnexpectedReply { operation, reply }
}

fn expect_data(reply: Reply, path: &str, operation: &'static str) -> Result<Vec<u8>> {
    match reply {
        Reply::Data(payload) => Ok(payload),
        Reply::Status(status) => Err(AfcError::Status {
            path: path.into(),
            status,
        }),
        other => Err(unexpected(operation, &other)),
    }
}

fn expect_ok(reply: Reply, path: &str, operation: &'static str) -> Result<()> {
    match reply {
        Reply::Status(AfcStatus::Success) => Ok(()),
        Reply::Status(status) => Err(AfcError::Status {
            path: path.into(),
            status,
        }),
        other => Err(unexpected(operation, &other)),
    }
}

mod fetch {
    //! The pipelined multi-file fetch: a small state machine over replies that arrive in
    //! request order.

    use super::*;

    /// What each request in flight was for.
    enum Pending {
        Open { index: usize },
        Read { index: usize, requested: u64 },
        Close { index: usize },
    }

    /// A file that is open on the phone.
    struct Active {
        index: usize,
        handle: u64,
        /// Bytes still to ask for: the reported size plus one, so that a short last read
        /// proves the end of the file.
        to_request: u64,
        close_sent: bool,
        received: u64,
        failed: Option<AfcError>,
    }

    pub fn run<S: Read + Write>(
        client: &mut AfcClient<S>,
        files: &[RemoteFile],
        chunk: u64,
        window: usize,
        sink: &mut impl FetchSink,
    ) -> Result<()> {
        let mut pending: VecDeque<Pending> = VecDeque::new();
        let mut active: VecDeque<Active> = VecDeque::new();
        let mut next_open = 0;
        // Reads in flight carry the data; opens and closes are tiny and must not take their
        // place, or the phone's reply queue runs dry while a handle is awaited and the link
        // idles for a round trip per file. Files open on the phone (open sent, close not
        // answered) are bounded separately: afcd has a limited number of file slots.
        let mut reads_in_flight = 0usize;
        let mut files_open = 0usize;
        let open_limit = window.saturating_mul(2);
        let sink_err = |index: usize, source: io::Error| AfcError::Sink {
            path: files[index].path.clone(),
            source,
        };
        loop {
            // Reads first, oldest file first, then the closes of files fully asked for.
            for file in active.iter_mut().filter(|a| !a.close_sent) {
                while reads_in_flight < window && file.to_request > 0 && file.failed.is_none() {
                    let requested = file.to_request.min(chunk);
                    client.send(&Request::FileRefRead {
                        handle: file.handle,
                        size: requested,
                    })?;
                    pending.push_back(Pending::Read {
                        index: file.index,
                        requested,
                    });
                    reads_in_flight += 1;
                    file.to_request -= requested;
                }
                if file.to_request > 0 && file.failed.is_none() {
                    break;
                }
                client.send(&Request::FileRefClose { handle: file.handle })?;
                pending.push_back(Pending::Close { index: file.index });
                file.close_sent = true;
            }
            // Then open files ahead, so a handle is ready when a read slot frees.
            while files_open < open_limit && next_open < files.len() {
                let path = files[next_open].path.clone();
                client.send(&Request::FileRefOpen {
                    mode: OpenMode::ReadOnly as u64,
                    path,
                })?;
                pending.push_back(Pending::Open { index: next_open });
                next_open += 1;
                files_open += 1;
            }
            let Some(what) = pending.pop_front() else {
                return Ok(());
            };
            while let Some(buffer) = sink.spare() {
                client.recycle(buffer);
            }
            let reply = client.receive()?;
            match what {
                Pending::Open { index } => {
                    sink.begin(index).map_err(|e| sink_err(index, e))?;
                    if !matches!(reply, Reply::FileRefOpenResult(_)) {
                        files_open -= 1;
                    }
                    match reply {
                        Reply::FileRefOpenResult(handle) => active.push_back(Active {
                            index,
                            handle,
                            to_request: files[index].size.saturating_add(1),
                            close_sent: false,
                            received: 0,
                            failed: None,
                        }),
                        other => {
                            let error = match other {
                                Reply::Status(status) => AfcError::Status {
                                    path: files[index].path.clone(),
                                    status,
                                },
                                other => unexpected("FileRefOpen", &other),
                            };
                            sink.end(index, Err(error)).map_err(|e| sink_err(index, e))?;
                        }
                    }
                }
                Pending::Read { index, requested } => {
                    reads_in_flight -= 1;
                    let Some(file) = active.iter_mut().find(|a| a.index == index) else {
                        continue;
                    };
                    if file.failed.is_some() {
                        continue;
                    }
                    let expected = files[index].size;
                    match reply {
                        Reply::Data(bytes) => {
                            let got = bytes.len() as u64;
                            if got > requested || file.received + got > expected {
                                file.failed = Some(AfcError::TooLong {
                                    path: files[index].path.clone(),
                                    expected,
                                    got: file.received + got,
                                });
                            } else {
                                file.received += got;
                                sink.data_owned(index, bytes).map_err(|e| sink_err(index, e))?;
                                if got < requested {
                                    // End of file: nothing more to ask for.
                                    file.to_request = 0;
                                }
                            }
                        }
                        Reply::Status(status) => {
                            file.failed = Some(AfcError::Status {
                                path: files[index].path.clone(),
                                status,
                            })
                        }
                        other => file.failed = Some(unexpected("FileRefRead", &other)),
                    }
                }
                Pending::Close { index } => {
                    files_open -= 1;
                    let Some(position) = active.iter().position(|a| a.index == index) else {
                        continue;
                    };
                    let file = active.remove(position).expect("position is in range");
                    // A phone that will not close a handle it served reads on did not know
                    // that handle: what was read under it is not trusted. (libimobiledevice
                    // and pymobiledevice3 report a failed close as an error too.)
                    let refused = match reply {
                        Reply::Status(AfcStatus::Success) => None,
                        Reply::Status(status) => Some(AfcError::Status {
                            path: files[index].path.clone(),
                            status,
                        }),
                        other => Some(unexpected("FileRefClose", &other)),
                    };
                    let outcome = match file.failed.or(refused) {
                        Some(error) => Err(error),
                        None if file.received != files[index].size => Err(AfcError::SizeMismatch {
                            path: files[index].path.clone(),
                            expected: files[index].size,
                            got: file.received,
                        }),
                        None => Ok(file.received),
                    };
                    sink.end(index, outcome).map_err(|e| sink_err(index, e))?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Replies prepared in advance; what the client writes is dropped.
    struct Scripted(io::Cursor<Vec<u8>>);

    impl Read for Scripted {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.0.read(buf)
        }
    }

    impl Write for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[derive(Default)]
    struct Ends(Vec<Result<u64>>);

    impl FetchSink for Ends {
        fn begin(&mut self, _: usize) -> io::Result<()> {
            Ok(())
        }
        fn data(&mut self, _: usize, _: &[u8]) -> io::Result<()> {
            Ok(())
        }
        fn end(&mut self, _: usize, outcome: Result<u64>) -> io::Result<()> {
            self.0.push(outcome);
            Ok(())
        }
    }

    #[test]
    fn one_at_a_time_reads_a_file_whole_and_checks_its_size() {
        let script = |data: Vec<u8>| {
            let mut replies = Reply::FileRefOpenResult(5).encode(0);
            replies.extend(Reply::Data(data).encode(1));
            replies.extend(Reply::Status(AfcStatus::Success).encode(2));
            AfcClient::new(Scripted(io::Cursor::new(replies))).with_window(1)
        };
        let files = [RemoteFile {
            path: "/DCIM/100APPLE/IMG_0001.JPG".into(),
            size: 3,
        }];
        let mut ends = Ends::default();
        script(vec![1, 2, 3])
            .fetch(&files, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut ends)
            .unwrap();
        assert_eq!(ends.0.pop().unwrap().unwrap(), 3);
        script(vec![1, 2])
            .fetch(&files, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut ends)
            .unwrap();
        assert!(matches!(
            ends.0.pop().unwrap(),
            Err(AfcError::SizeMismatch { got: 2, .. })
        ));
        script(vec![1, 2, 3, 4])
            .fetch(&files, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut ends)
            .unwrap();
        assert!(matches!(ends.0.pop().unwrap(), Err(AfcError::TooLong { got: 4, .. })));
        assert_eq!(script(Vec::new()).window_for(DEFAULT_WINDOW), 1);
    }

    /// One 3-byte file: open, one read (asks for 4, so a short read proves the end), close.
    fn fetch_with_close_reply(close: Reply) -> Result<u64> {
        let mut replies = Reply::FileRefOpenResult(5).encode(0);
        replies.extend(Reply::Data(vec![1, 2, 3]).encode(1));
        replies.extend(close.encode(2));
        let mut client = AfcClient::new(Scripted(io::Cursor::new(replies)));
        let files = [RemoteFile {
            path: "/DCIM/100APPLE/IMG_0001.JPG".into(),
            size: 3,
        }];
        let mut ends = Ends::default();
        client.fetch(&files, DEFAULT_CHUNK, DEFAULT_WINDOW, &mut ends).unwrap();
        assert_eq!(ends.0.len(), 1);
        ends.0.pop().unwrap()
    }

    #[test]
    fn a_file_whose_handle_the_phone_will_not_close_is_not_trusted() {
        assert_eq!(fetch_with_close_reply(Reply::Status(AfcStatus::Success)).unwrap(), 3);
        // Found by the afc_client fuzz target: a phone that answered reads on a handle it
        // then called invalid had the file reported whole.
        assert!(matches!(
            fetch_with_close_reply(Reply::Status(AfcStatus::InvalidArg)),
            Err(AfcError::Status {
                status: AfcStatus::InvalidArg,
                ..
            })
        ));
        assert!(matches!(
            fetch_with_close_reply(Reply::FileRefTellResult(0)),
            Err(AfcError::UnexpectedReply { .. })
        ));
    }
}

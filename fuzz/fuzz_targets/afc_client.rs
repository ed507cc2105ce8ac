//! The AFC client against a phone that lies. The phone here answers every request the
//! client writes; the fuzz input decides, reply by reply, whether it answers honestly or
//! not (an error status, a short or long read, a wrong packet number, another reply type,
//! garbage bytes, a closed connection). When the input runs out it answers honestly, so
//! every run ends. Whatever happens, the client must not panic, must tell the sink about
//! each file exactly once, must never report a file whole at another size than the phone
//! gave, and, for a file the phone told no lie about, never with other bytes than the
//! file's own, in order. (A phone that lies consistently about a file's bytes cannot be
//! caught: AFC carries no checksum.)
#![no_main]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::rc::Rc;

use afc::client::{AfcClient, AfcError, FetchSink, RemoteFile};
use afc::{AfcStatus, Reply, Request};
use libfuzzer_sys::fuzz_target;

/// The phone's files: sizes chosen to cover empty, tiny, one chunk and several chunks.
const FILES: [(&str, u64); 4] = [
    ("/DCIM/100APPLE/IMG_0001.HEIC", 0),
    ("/DCIM/100APPLE/IMG_0002.JPG", 3),
    ("/DCIM/100APPLE/IMG_0003.MOV", 10_000),
    ("/PhotoData/CPLAssets/group1/A.HEIC", 70_000),
];

/// Byte `offset` of file `index`, so data from the wrong file or place is noticed.
fn content(index: usize, offset: u64) -> u8 {
    (offset.wrapping_mul(31) as u8) ^ (index as u8).wrapping_mul(0x5B)
}

/// Which files the phone lied about, shared with the sink that judges the client.
#[derive(Default)]
struct Lies {
    about_file: [bool; FILES.len()],
    /// A lie that could touch any file (raw bytes, a false length, a closed line).
    about_everything: bool,
}

/// The simulated phone side of the stream.
struct LyingPhone<'a> {
    lies: Rc<RefCell<Lies>>,
    decisions: &'a [u8],
    /// Bytes the client wrote that do not yet make a whole request.
    incoming: Vec<u8>,
    outgoing: VecDeque<u8>,
    /// Open handles: file index and read position.
    handles: HashMap<u64, (usize, u64)>,
    next_handle: u64,
    closed: bool,
}

impl LyingPhone<'_> {
    fn decision(&mut self) -> u8 {
        match self.decisions.split_first() {
            Some((&first, rest)) => {
                self.decisions = rest;
                first
            }
            None => 0,
        }
    }

    fn honest(&mut self, request: &Request) -> Reply {
        match request {
            Request::FileRefOpen { path, .. } => match FILES.iter().position(|(p, _)| p == path) {
                Some(index) => {
                    let handle = self.next_handle;
                    self.next_handle += 1;
                    self.handles.insert(handle, (index, 0));
                    Reply::FileRefOpenResult(handle)
                }
                None => Reply::Status(AfcStatus::ObjectNotFound),
            },
            Request::FileRefRead { handle, size } => match self.handles.get_mut(handle) {
                Some((index, position)) => {
                    let left = FILES[*index].1.saturating_sub(*position);
                    let take = left.min(*size).min(1 << 20);
                    let bytes = (*position..*position + take).map(|o| content(*index, o)).collect();
                    *position += take;
                    Reply::Data(bytes)
                }
                None => Reply::Status(AfcStatus::InvalidArg),
            },
            Request::FileRefClose { handle } => match self.handles.remove(handle) {
                Some(_) => Reply::Status(AfcStatus::Success),
                None => Reply::Status(AfcStatus::InvalidArg),
            },
            Request::GetFileInfo { path } => match FILES.iter().find(|(p, _)| p == path) {
                Some(&(_, size)) => Reply::Data(
                    afc::kv::FileInfo {
                        size,
                        blocks: size.div_ceil(512),
                        nlink: 1,
                        kind: afc::kv::FileKind::File,
                        mtime_ns: 1_700_000_000_000_000_000,
                        birthtime_ns: None,
                        link_target: None,
                    }
                    .encode(),
                ),
                None => Reply::Status(AfcStatus::ObjectNotFound),
            },
            Request::ReadDir { .. } => Reply::Data(b".\0..\0IMG_0001.HEIC\0IMG_0002.JPG\0".to_vec()),
            _ => Reply::Status(AfcStatus::Success),
        }
    }

    /// The file a request is about, as the phone knows it.
    fn file_of(&self, request: &Request) -> Option<usize> {
        match request {
            Request::FileRefOpen { path, .. } => FILES.iter().position(|(p, _)| p == path),
            Request::FileRefRead { handle, .. } | Request::FileRefClose { handle } => {
                self.handles.get(handle).map(|&(index, _)| index)
            }
            _ => None,
        }
    }

    fn answer(&mut self, packet: u64, request: &Request) {
        let file = self.file_of(request);
        let reply = self.honest(request);
        let decision = self.decision() % 16;
        {
            let mut lies = self.lies.borrow_mut();
            match (decision, file) {
                (0..=8, _) => {}
                // A handle the phone does not know came from an earlier lie, already counted.
                (9 | 10 | 12, Some(index)) => lies.about_file[index] = true,
                (9 | 10 | 12, None) => {}
                _ => lies.about_everything = true,
            }
        }
        let encoded = match decision {
            // Mostly honest, so that runs get deep into a fetch.
            0..=8 => reply.encode(packet),
            9 => Reply::Status(AfcStatus::from_code(u64::from(self.decision()))).encode(packet),
            10 => {
                // A read of another length than the phone has.
                let mut bytes = reply.payload().to_vec();
                let change = usize::from(self.decision());
                if change % 2 == 0 {
                    bytes.truncate(bytes.len().saturating_sub(change / 2 + 1));
                } else {
                    bytes.extend(std::iter::repeat_n(0xEE, change / 2 + 1));
                }
                Reply::Data(bytes).encode(packet)
            }
            11 => reply.encode(packet.wrapping_add(1 + u64::from(self.decision()))),
            12 => Reply::FileRefOpenResult(u64::from(self.decision())).encode(packet),
            13 => {
                // Raw bytes from the input, then whatever follows.
                let length = usize::from(self.decision());
                let take = length.min(self.decisions.len());
                let (raw, rest) = self.decisions.split_at(take);
                self.decisions = rest;
                raw.to_vec()
            }
            14 => {
                // A header that claims far more than follows.
                let mut bytes = reply.encode(packet);
                bytes[8..16].copy_from_slice(&(60u64 << 20).to_le_bytes());
                bytes
            }
            _ => {
                self.closed = true;
                Vec::new()
            }
        };
        self.outgoing.extend(encoded);
    }
}

impl Write for LyingPhone<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.incoming.extend_from_slice(bytes);
        let mut cursor = &self.incoming[..];
        let mut requests = Vec::new();
        // The client only ever writes whole, well-formed requests.
        while let Ok(Some((header, body))) = afc::wire::read_packet(&mut cursor, 1 << 20) {
            let request = Request::decode(header.operation, &body).expect("the client writes valid requests");
            requests.push((header.packet_num, request));
        }
        let used = self.incoming.len() - cursor.len();
        self.incoming.drain(..used);
        for (packet, request) in requests {
            if !self.closed {
                self.answer(packet, &request);
            }
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Read for LyingPhone<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let n = buffer.len().min(self.outgoing.len());
        for (slot, byte) in buffer.iter_mut().zip(self.outgoing.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

struct CheckingSink {
    lies: Rc<RefCell<Lies>>,
    begun: Vec<bool>,
    ended: Vec<bool>,
    received: Vec<Vec<u8>>,
}

impl FetchSink for CheckingSink {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        assert!(!self.begun[index], "file {index} begun twice");
        self.begun[index] = true;
        Ok(())
    }

    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        assert!(
            self.begun[index] && !self.ended[index],
            "data for file {index} outside begin..end"
        );
        self.received[index].extend_from_slice(bytes);
        assert!(
            self.received[index].len() as u64 <= FILES[index].1,
            "file {index}: more bytes passed on than the phone reported"
        );
        Ok(())
    }

    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        assert!(
            self.begun[index] && !self.ended[index],
            "file {index} ended twice or before it began"
        );
        self.ended[index] = true;
        if let Ok(size) = outcome {
            assert_eq!(size, FILES[index].1, "file {index} reported whole at the wrong size");
            assert_eq!(
                self.received[index].len() as u64,
                size,
                "file {index}: bytes passed on != size"
            );
            let lies = self.lies.borrow();
            if !lies.about_everything && !lies.about_file[index] {
                let expected: Vec<u8> = (0..size).map(|o| content(index, o)).collect();
                assert!(
                    self.received[index] == expected,
                    "file {index} reported whole with other bytes"
                );
            }
        }
        Ok(())
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&[chunk_choice, window_choice], decisions)) = input.split_first_chunk::<2>() else {
        return;
    };
    let chunk = 1u64 << (9 + chunk_choice % 12);
    let window = 1 + usize::from(window_choice % 8);
    lifeboat_fuzz::bounded(decisions, |decisions| {
        let lies = Rc::new(RefCell::new(Lies::default()));
        let phone = LyingPhone {
            lies: lies.clone(),
            decisions,
            incoming: Vec::new(),
            outgoing: VecDeque::new(),
            handles: HashMap::new(),
            next_handle: 1,
            closed: false,
        };
        let mut client = AfcClient::new(phone);
        let files: Vec<RemoteFile> = FILES
            .iter()
            .map(|&(path, size)| RemoteFile {
                path: path.to_string(),
                size,
            })
            .collect();
        let mut sink = CheckingSink {
            lies,
            begun: vec![false; FILES.len()],
            ended: vec![false; FILES.len()],
            received: vec![Vec::new(); FILES.len()],
        };
        if client.fetch(&files, chunk, window, &mut sink).is_ok() {
            assert!(sink.ended.iter().all(|&e| e), "fetch finished with a file never ended");
        }
        // After a failed fetch the same client is used on: it must fail cleanly, not panic.
        let paths: Vec<String> = FILES.iter().map(|(p, _)| p.to_string()).collect();
        let _ = client.file_infos(&paths, window);
        let _ = client.list_dir("/DCIM/100APPLE");
    });
});

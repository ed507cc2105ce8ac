//! The 40-byte AFC header and typed requests and replies (docs/protocol.md §3.1-3.2). Pure
//! functions over bytes; [`crate::wire`] applies them to streams.

use crate::status::AfcStatus;

pub const MAGIC: [u8; 8] = *b"CFA6LPAA";
pub const HEADER_LEN: usize = 40;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Header, parameters and data.
    pub entire_length: u64,
    /// Header and parameters.
    pub this_length: u64,
    pub packet_num: u64,
    pub operation: u64,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("AFC packet does not start with CFA6LPAA")]
    BadMagic,
    #[error("AFC packet lengths are inconsistent (entire {entire}, this {this})")]
    BadLength { entire: u64, this: u64 },
    #[error("AFC packet of {0} bytes is larger than allowed")]
    TooLarge(u64),
    #[error("AFC {op:#x} packet is too short for its parameters")]
    Truncated { op: u64 },
    #[error("AFC reply has unexpected operation {0:#x}")]
    UnexpectedReply(u64),
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[..8].copy_from_slice(&MAGIC);
        out[8..16].copy_from_slice(&self.entire_length.to_le_bytes());
        out[16..24].copy_from_slice(&self.this_length.to_le_bytes());
        out[24..32].copy_from_slice(&self.packet_num.to_le_bytes());
        out[32..40].copy_from_slice(&self.operation.to_le_bytes());
        out
    }

    /// Decodes and checks a header; `max_len` bounds what the body may claim.
    pub fn decode(bytes: &[u8; HEADER_LEN], max_len: u64) -> Result<Header, CodecError> {
        if bytes[..8] != MAGIC {
            return Err(CodecError::BadMagic);
        }
        let word = |i: usize| {
            let mut w = [0u8; 8];
            w.copy_from_slice(&bytes[i..i + 8]);
            u64::from_le_bytes(w)
        };
        let header = Header {
            entire_length: word(8),
            this_length: word(16),
            packet_num: word(24),
            operation: word(32),
        };
        // Some writers set this_length = entire_length; both must cover at least the header.
        if header.entire_length < HEADER_LEN as u64
            || header.this_length < HEADER_LEN as u64
            || header.this_length > header.entire_length
        {
            return Err(CodecError::BadLength {
                entire: header.entire_length,
                this: header.this_length,
            });
        }
        if header.entire_length > max_len {
            return Err(CodecError::TooLarge(header.entire_length));
        }
        Ok(header)
    }

    /// Bytes after the header: parameters and data together.
    pub fn body_len(&self) -> usize {
        (self.entire_length - HEADER_LEN as u64) as usize
    }
}

/// AFC operation numbers (limd `afc.h`, pmd3 `AfcOpcode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum Opcode {
    Status = 0x01,
    Data = 0x02,
    ReadDir = 0x03,
    RemovePath = 0x08,
    MakeDir = 0x09,
    GetFileInfo = 0x0A,
    GetDeviceInfo = 0x0B,
    FileRefOpen = 0x0D,
    FileRefOpenResult = 0x0E,
    FileRefRead = 0x0F,
    FileRefWrite = 0x10,
    FileRefSeek = 0x11,
    FileRefTell = 0x12,
    FileRefTellResult = 0x13,
    FileRefClose = 0x14,
    RenamePath = 0x18,
    FileRefLock = 0x1B,
    SetModTime = 0x1E,
    /// iOS 7+: a read at an offset that leaves the file position alone.
    FileRefReadWithOffset = 0x27,
}

/// File open modes (`afc_file_mode_t`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u64)]
pub enum OpenMode {
    ReadOnly = 1,
    ReadWrite = 2,
    WriteOnly = 3,
    WriteRead = 4,
    Append = 5,
    ReadAppend = 6,
}

impl OpenMode {
    pub fn from_code(code: u64) -> Option<OpenMode> {
        Some(match code {
            1 => OpenMode::ReadOnly,
            2 => OpenMode::ReadWrite,
            3 => OpenMode::WriteOnly,
            4 => OpenMode::WriteRead,
            5 => OpenMode::Append,
            6 => OpenMode::ReadAppend,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    ReadDir {
        path: String,
    },
    GetFileInfo {
        path: String,
    },
    GetDeviceInfo,
    FileRefOpen {
        mode: u64,
        path: String,
    },
    FileRefRead {
        handle: u64,
        size: u64,
    },
    FileRefWrite {
        handle: u64,
        data: Vec<u8>,
    },
    FileRefSeek {
        handle: u64,
        whence: u64,
        offset: i64,
    },
    FileRefTell {
        handle: u64,
    },
    FileRefClose {
        handle: u64,
    },
    RemovePath {
        path: String,
    },
    MakeDir {
        path: String,
    },
    RenamePath {
        from: String,
        to: String,
    },
    SetModTime {
        path: String,
        mtime_ns: u64,
    },
    FileRefLock {
        handle: u64,
        operation: u64,
    },
    /// Field order from SDMMobileDevice's `AFCPacketHeaderFileRefReadWithOffset`.
    FileRefReadWithOffset {
        handle: u64,
        size: u64,
        offset: u64,
    },
    /// An operation this codec does not model; the server answers OpNotSupported.
    Other {
        operation: u64,
    },
}

fn nul_terminated(path: &str) -> Vec<u8> {
    let mut out = path.as_bytes().to_vec();
    out.push(0);
    out
}

fn u64s(values: &[u64]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

impl Request {
    pub fn opcode(&self) -> u64 {
        (match self {
            Request::ReadDir { .. } => Opcode::ReadDir,
            Request::GetFileInfo { .. } => Opcode::GetFileInfo,
            Request::GetDeviceInfo => Opcode::GetDeviceInfo,
            Request::FileRefOpen { .. } => Opcode::FileRefOpen,
            Request::FileRefRead { .. } => Opcode::FileRefRead,
            Request::FileRefWrite { .. } => Opcode::FileRefWrite,
            Request::FileRefSeek { .. } => Opcode::FileRefSeek,
            Request::FileRefTell { .. } => Opcode::FileRefTell,
            Request::FileRefClose { .. } => Opcode::FileRefClose,
            Request::RemovePath { .. } => Opcode::RemovePath,
            Request::MakeDir { .. } => Opcode::MakeDir,
            Request::RenamePath { .. } => Opcode::RenamePath,
            Request::SetModTime { .. } => Opcode::SetModTime,
            Request::FileRefLock { .. } => Opcode::FileRefLock,
            Request::FileRefReadWithOffset { .. } => Opcode::FileRefReadWithOffset,
            Request::Other { operation } => return *operation,
        }) as u64
    }

    /// Header parameters and trailing data, as libimobiledevice lays them out.
    fn parts(&self) -> (Vec<u8>, &[u8]) {
        match self {
            Request::ReadDir { path }
            | Request::GetFileInfo { path }
            | Request::RemovePath { path }
            | Request::MakeDir { path } => (nul_terminated(path), &[]),
            Request::GetDeviceInfo | Request::Other { .. } => (Vec::new(), &[]),
            Request::FileRefOpen { mode, path } => {
                let mut p = u64s(&[*mode]);
                p.extend(nul_terminated(path));
                (p, &[])
            }
            Request::FileRefRead { handle, size } => (u64s(&[*handle, *size]), &[]),
            Request::FileRefWrite { handle, data } => (u64s(&[*handle]), data),
            Request::FileRefSeek { handle, whence, offset } => (u64s(&[*handle, *whence, *offset as u64]), &[]),
            Request::FileRefTell { handle } | Request::FileRefClose { handle } => (u64s(&[*handle]), &[]),
            Request::RenamePath { from, to } => {
                let mut p = nul_terminated(from);
                p.extend(nul_terminated(to));
                (p, &[])
            }
            Request::SetModTime { path, mtime_ns } => {
                let mut p = u64s(&[*mtime_ns]);
                p.extend(nul_terminated(path));
                (p, &[])
            }
            Request::FileRefLock { handle, operation } => (u64s(&[*handle, *operation]), &[]),
            Request::FileRefReadWithOffset { handle, size, offset } => (u64s(&[*handle, *size, *offset]), &[]),
        }
    }

    pub fn encode(&self, packet_num: u64) -> Vec<u8> {
        let (params, data) = self.parts();
        let this_length = (HEADER_LEN + params.len()) as u64;
        let header = Header {
            entire_length: this_length + data.len() as u64,
            this_length,
            packet_num,
            operation: self.opcode(),
        };
        let mut out = Vec::with_capacity(header.entire_length as usize);
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&params);
        out.extend_from_slice(data);
        out
    }

    /// Server side: parses parameters and data together (`body` is everything after the
    /// header), cut by the operation's fixed layout, as real servers read them.
    pub fn decode(operation: u64, body: &[u8]) -> Result<Request, CodecError> {
        let short = CodecError::Truncated { op: operation };
        let word = |i: usize| -> Result<u64, CodecError> {
            body.get(i * 8..i * 8 + 8)
                .map(|b| {
                    let mut w = [0u8; 8];
                    w.copy_from_slice(b);
                    u64::from_le_bytes(w)
                })
                .ok_or(short.clone())
        };
        let path_at =
            |start: usize| -> Result<String, CodecError> { Ok(path(body.get(start..).ok_or(short.clone())?)) };
        Ok(match operation {
            0x03 => Request::ReadDir { path: path_at(0)? },
            0x08 => Request::RemovePath { path: path_at(0)? },
            0x09 => Request::MakeDir { path: path_at(0)? },
            0x0A => Request::GetFileInfo { path: path_at(0)? },
            0x0B => Request::GetDeviceInfo,
            0x0D => Request::FileRefOpen {
                mode: word(0)?,
                path: path_at(8)?,
            },
            0x0F => Request::FileRefRead {
                handle: word(0)?,
                size: word(1)?,
            },
            0x10 => Request::FileRefWrite {
                handle: word(0)?,
                data: body[8..].to_vec(),
            },
            0x11 => Request::FileRefSeek {
                handle: word(0)?,
                whence: word(1)?,
                offset: word(2)? as i64,
            },
            0x12 => Request::FileRefTell { handle: word(0)? },
            0x14 => Request::FileRefClose { handle: word(0)? },
            0x18 => {
                let mut parts = body.splitn(3, |&b| b == 0);
                let from = parts.next().map(lossy).ok_or(short.clone())?;
                let to = parts.next().map(lossy).ok_or(short)?;
                Request::RenamePath { from, to }
            }
            0x1B => Request::FileRefLock {
                handle: word(0)?,
                operation: word(1)?,
            },
            0x27 => Request::FileRefReadWithOffset {
                handle: word(0)?,
                size: word(1)?,
                offset: word(2)?,
            },
            0x1E => Request::SetModTime {
                mtime_ns: word(0)?,
                path: path_at(8)?,
            },
            other => Request::Other { operation: other },
        })
    }
}

/// A path ends at the first NUL or at the end of the parameters (idevice sends no NUL).
fn path(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    lossy(&bytes[..end])
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    Status(AfcStatus),
    Data(Vec<u8>),
    FileRefOpenResult(u64),
    FileRefTellResult(u64),
}

impl Reply {
    /// Status, OpenResult and TellResult carry their u64 inside the header (this = entire = 48);
    /// Data carries its bytes after a 40-byte header, as every client accepts.
    pub fn encode(&self, packet_num: u64) -> Vec<u8> {
        let mut out = self.encode_head(packet_num);
        out.extend_from_slice(self.payload());
        out
    }

    /// The header and parameters alone; [`payload`](Self::payload) follows them on the wire.
    /// A server can send the two without copying a large read into one buffer.
    pub fn encode_head(&self, packet_num: u64) -> Vec<u8> {
        let (operation, params): (Opcode, Vec<u8>) = match self {
            Reply::Status(status) => (Opcode::Status, u64s(&[status.code()])),
            Reply::FileRefOpenResult(handle) => (Opcode::FileRefOpenResult, u64s(&[*handle])),
            Reply::FileRefTellResult(pos) => (Opcode::FileRefTellResult, u64s(&[*pos])),
            Reply::Data(_) => (Opcode::Data, Vec::new()),
        };
        let this_length = (HEADER_LEN + params.len()) as u64;
        let header = Header {
            entire_length: this_length + self.payload().len() as u64,
            this_length,
            packet_num,
            operation: operation as u64,
        };
        let mut out = Vec::with_capacity(this_length as usize);
        out.extend_from_slice(&header.encode());
        out.extend_from_slice(&params);
        out
    }

    /// The bytes after the header and parameters.
    pub fn payload(&self) -> &[u8] {
        match self {
            Reply::Data(bytes) => bytes,
            _ => &[],
        }
    }

    /// Client side: interprets a reply's body (everything after the header).
    pub fn decode(operation: u64, body: Vec<u8>) -> Result<Reply, CodecError> {
        let word = |op| -> Result<u64, CodecError> {
            let bytes = body.get(..8).ok_or(CodecError::Truncated { op })?;
            let mut w = [0u8; 8];
            w.copy_from_slice(bytes);
            Ok(u64::from_le_bytes(w))
        };
        match operation {
            0x01 => Ok(Reply::Status(AfcStatus::from_code(word(operation)?))),
            0x02 => Ok(Reply::Data(body)),
            0x0E => Ok(Reply::FileRefOpenResult(word(operation)?)),
            0x13 => Ok(Reply::FileRefTellResult(word(operation)?)),
            other => Err(CodecError::UnexpectedReply(other)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(bytes: &[u8]) -> &[u8] {
        &bytes[HEADER_LEN..]
    }

    #[test]
    fn matches_captured_bytes() {
        // docs/protocol.md §4: pymobiledevice3's first ReadDir "/DCIM".
        let bytes = Request::ReadDir { path: "/DCIM".into() }.encode(0);
        let h = Header::decode(bytes[..40].try_into().unwrap(), 1 << 20).unwrap();
        assert_eq!((h.entire_length, h.this_length, h.operation), (0x2e, 0x2e, 3));
        assert_eq!(body(&bytes), b"/DCIM\0");
        // The Data reply the client accepted: ". .. 100APPLE".
        let reply = Reply::Data(b".\0..\x00100APPLE\0".to_vec()).encode(0);
        assert_eq!(&reply[8..16], &0x36u64.to_le_bytes());
        assert_eq!(&reply[16..24], &0x28u64.to_le_bytes());
        // The FileRefOpen reply: 48/48, handle 1, packet 5.
        let open = Reply::FileRefOpenResult(1).encode(5);
        assert_eq!(open.len(), 48);
        assert_eq!(&open[16..24], &48u64.to_le_bytes());
        assert_eq!(&open[24..32], &5u64.to_le_bytes());
        assert_eq!(&open[32..40], &0x0eu64.to_le_bytes());
    }

    #[test]
    fn requests_round_trip_through_the_server_decoder() {
        let requests = vec![
            Request::ReadDir {
                path: "/DCIM/100APPLE".into(),
            },
            Request::GetFileInfo { path: "a".into() },
            Request::GetDeviceInfo,
            Request::FileRefOpen {
                mode: 1,
                path: "/DCIM/IMG_0001.HEIC".into(),
            },
            Request::FileRefRead {
                handle: 3,
                size: 4 << 20,
            },
            Request::FileRefWrite {
                handle: 3,
                data: b"abc".to_vec(),
            },
            Request::FileRefSeek {
                handle: 3,
                whence: 2,
                offset: -10,
            },
            Request::FileRefTell { handle: 3 },
            Request::FileRefClose { handle: 3 },
            Request::RemovePath { path: "x".into() },
            Request::MakeDir { path: "a/b/c".into() },
            Request::RenamePath {
                from: "a".into(),
                to: "b".into(),
            },
            Request::SetModTime {
                path: "p".into(),
                mtime_ns: 1_523_978_415_000_000_000,
            },
            Request::FileRefLock {
                handle: 1,
                operation: 6,
            },
        ];
        for request in requests {
            let bytes = request.encode(9);
            let h = Header::decode(bytes[..40].try_into().unwrap(), 1 << 20).unwrap();
            assert_eq!(Request::decode(h.operation, body(&bytes)).unwrap(), request);
        }
    }

    #[test]
    fn paths_without_nul_are_accepted() {
        assert_eq!(
            Request::decode(0x0A, b"/DCIM").unwrap(),
            Request::GetFileInfo { path: "/DCIM".into() }
        );
    }

    #[test]
    fn malformed_packets_are_errors() {
        let mut h = Header {
            entire_length: 39,
            this_length: 39,
            packet_num: 0,
            operation: 1,
        }
        .encode();
        assert!(Header::decode(&h, 1000).is_err(), "shorter than header");
        h = Header {
            entire_length: 48,
            this_length: 56,
            packet_num: 0,
            operation: 1,
        }
        .encode();
        assert!(Header::decode(&h, 1000).is_err(), "this > entire");
        h = Header {
            entire_length: u64::MAX,
            this_length: 40,
            packet_num: 0,
            operation: 1,
        }
        .encode();
        assert_eq!(Header::decode(&h, 1000), Err(CodecError::TooLarge(u64::MAX)));
        h[0] = b'X';
        assert_eq!(Header::decode(&h, 1000), Err(CodecError::BadMagic));
        assert!(Request::decode(0x0F, &[1, 2, 3]).is_err());
        assert!(Request::decode(0x0D, &[]).is_err());
        assert!(Reply::decode(0x01, vec![1]).is_err());
        assert!(Reply::decode(0x33, vec![]).is_err());
    }
}

//! DeviceLink's raw file streams (docs/backup.md §1.6): the bytes that follow
//! `DLMessageUploadFiles` (device → host) and that answer `DLMessageDownloadFiles`
//! (host → device), outside any plist frame.
//!
//! Per file: a name (uploads: the device's name, then the host path; downloads: the path
//! alone), each as a big-endian u32 length and bytes; then blocks of a u32 length (code
//! byte included), a code and data: 0x0C data, 0x00 the file is whole, 0x0B (device) or
//! 0x06 (host) an error with its message. A zero name length ends the stream.
//!
//! The decoder is pushed bytes as they arrive and hands back borrowed data, so no claimed
//! length is ever allocated ahead of the bytes: a file of any size streams through.

/// Block codes.
pub const CODE_SUCCESS: u8 = 0x00;
pub const CODE_ERROR_LOCAL: u8 = 0x06;
pub const CODE_ERROR_REMOTE: u8 = 0x0B;
pub const CODE_FILE_DATA: u8 = 0x0C;

/// Longest name or path accepted. Real ones are a few hundred bytes; libimobiledevice
/// refuses "too large filename length" beyond a few KiB.
pub const MAX_NAME: u32 = 4096;
/// Longest error message accepted in an error block.
pub const MAX_MESSAGE: u32 = 64 * 1024;
/// Data blocks as libimobiledevice and pymobiledevice3 send them: 32 KiB (Apple's
/// DeviceLink `BufferSize`; larger ones push BackupAgent2 past its memory limit).
pub const BLOCK: usize = 32 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("a file name in the stream claims {0} bytes, more than the {MAX_NAME} allowed")]
    NameTooLong(u32),
    #[error("a file name in the stream is not UTF-8")]
    NameNotText,
    #[error("a block in the stream has length 0")]
    EmptyBlock,
    #[error("a block in the stream has the unknown code {0:#04x}")]
    UnknownCode(u8),
    #[error("an end-of-file block carries {0} bytes; it carries none")]
    LongSuccess(u32),
    #[error("an error block claims a {0}-byte message, more than the {MAX_MESSAGE} allowed")]
    MessageTooLong(u32),
}

/// What the stream says next.
#[derive(Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A file begins. `device_name` is empty in downloads.
    FileStart { device_name: String, path: String },
    /// Some of the current file's bytes.
    Data(&'a [u8]),
    /// The current file is whole.
    FileDone,
    /// The sender could not read the file; `code` is 0x0B or 0x06.
    FileFailed { code: u8, message: String },
    /// No more files.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    DeviceName,
    Path,
    Message(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum State {
    /// A u32 length of `field` (names) is being read into `small`.
    Length(Field),
    /// `remaining` bytes of `field` are being read into `text`.
    Text {
        field: Field,
        remaining: u32,
    },
    /// A block header: u32 length and a code byte.
    Block,
    Data {
        remaining: u32,
    },
    Ended,
}

/// Decodes one raw stream.
#[derive(Debug)]
pub struct Decoder {
    state: State,
    /// Uploads carry a device name before the path; downloads do not.
    two_names: bool,
    small: Vec<u8>,
    text: Vec<u8>,
    device_name: String,
}

impl Decoder {
    /// For the stream after `DLMessageUploadFiles`.
    pub fn upload() -> Decoder {
        Decoder::new(true)
    }

    /// For the stream answering `DLMessageDownloadFiles`.
    pub fn download() -> Decoder {
        Decoder::new(false)
    }

    fn new(two_names: bool) -> Decoder {
        let first = if two_names { Field::DeviceName } else { Field::Path };
        Decoder {
            state: State::Length(first),
            two_names,
            small: Vec::with_capacity(5),
            text: Vec::new(),
            device_name: String::new(),
        }
    }

    pub fn is_done(&self) -> bool {
        self.state == State::Ended
    }

    /// Consumes a prefix of `input`. Returns how many bytes it took and the event they
    /// completed, if any; call again with the rest. `(0, None)` only when `input` is empty
    /// or the stream has ended.
    pub fn next<'a>(&mut self, input: &'a [u8]) -> Result<(usize, Option<Event<'a>>), StreamError> {
        match self.state.clone() {
            State::Ended => Ok((0, None)),
            State::Length(field) => {
                let taken = self.fill(input, 4);
                if self.small.len() < 4 {
                    return Ok((taken, None));
                }
                let length = u32::from_be_bytes([self.small[0], self.small[1], self.small[2], self.small[3]]);
                self.small.clear();
                // A zero length where a file's first name belongs ends the stream.
                let first = field == Field::DeviceName || !self.two_names;
                if length == 0 && first {
                    self.state = State::Ended;
                    return Ok((taken, Some(Event::End)));
                }
                if length > MAX_NAME {
                    return Err(StreamError::NameTooLong(length));
                }
                self.state = State::Text {
                    field,
                    remaining: length,
                };
                self.text.clear();
                if length == 0 {
                    return self.finish_text(field).map(|event| (taken, event));
                }
                Ok((taken, None))
            }
            State::Text { field, remaining } => {
                let take = (remaining as usize).min(input.len());
                self.text.extend_from_slice(&input[..take]);
                let remaining = remaining - take as u32;
                if remaining > 0 {
                    self.state = State::Text { field, remaining };
                    return Ok((take, None));
                }
                self.finish_text(field).map(|event| (take, event))
            }
            State::Block => {
                let taken = self.fill(input, 5);
                if self.small.len() < 5 {
                    return Ok((taken, None));
                }
                let length = u32::from_be_bytes([self.small[0], self.small[1], self.small[2], self.small[3]]);
                let code = self.small[4];
                self.small.clear();
                if length == 0 {
                    return Err(StreamError::EmptyBlock);
                }
                let body = length - 1;
                match code {
                    CODE_FILE_DATA => {
                        self.state = if body == 0 {
                            State::Block
                        } else {
                            State::Data { remaining: body }
                        };
                        Ok((taken, None))
                    }
                    CODE_SUCCESS if body == 0 => {
                        self.state = self.next_file();
                        Ok((taken, Some(Event::FileDone)))
                    }
                    CODE_SUCCESS => Err(StreamError::LongSuccess(body)),
                    CODE_ERROR_REMOTE | CODE_ERROR_LOCAL => {
                        if body > MAX_MESSAGE {
                            return Err(StreamError::MessageTooLong(body));
                        }
                        self.text.clear();
                        self.state = State::Text {
                            field: Field::Message(code),
                            remaining: body,
                        };
                        if body == 0 {
                            return self.finish_text(Field::Message(code)).map(|event| (taken, event));
                        }
                        Ok((taken, None))
                    }
                    other => Err(StreamError::UnknownCode(other)),
                }
            }
            State::Data { remaining } => {
                let take = (remaining as usize).min(input.len());
                if take == 0 {
                    return Ok((0, None));
                }
                let remaining = remaining - take as u32;
                self.state = if remaining == 0 {
                    State::Block
                } else {
                    State::Data { remaining }
                };
                Ok((take, Some(Event::Data(&input[..take]))))
            }
        }
    }

    fn next_file(&self) -> State {
        State::Length(if self.two_names { Field::DeviceName } else { Field::Path })
    }

    fn fill(&mut self, input: &[u8], want: usize) -> usize {
        let take = (want - self.small.len()).min(input.len());
        self.small.extend_from_slice(&input[..take]);
        take
    }

    fn finish_text<'a>(&mut self, field: Field) -> Result<Option<Event<'a>>, StreamError> {
        let bytes = std::mem::take(&mut self.text);
        match field {
            Field::DeviceName => {
                self.device_name = String::from_utf8(bytes).map_err(|_| StreamError::NameNotText)?;
                self.state = State::Length(Field::Path);
                Ok(None)
            }
            Field::Path => {
                let path = String::from_utf8(bytes).map_err(|_| StreamError::NameNotText)?;
                self.state = State::Block;
                Ok(Some(Event::FileStart {
                    device_name: std::mem::take(&mut self.device_name),
                    path,
                }))
            }
            Field::Message(code) => {
                self.state = self.next_file();
                Ok(Some(Event::FileFailed {
                    code,
                    message: String::from_utf8_lossy(&bytes).into_owned(),
                }))
            }
        }
    }
}

fn text(out: &mut Vec<u8>, text: &str) {
    out.extend_from_slice(&(text.len() as u32).to_be_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// The start of an uploaded file (device side).
pub fn upload_start(device_name: &str, path: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + device_name.len() + path.len());
    text(&mut out, device_name);
    text(&mut out, path);
    out
}

/// The start of a downloaded file (host side).
pub fn download_start(path: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + path.len());
    text(&mut out, path);
    out
}

/// The header of a data block of `len` bytes (at most [`BLOCK`] in practice).
pub fn data_header(len: usize) -> [u8; 5] {
    let [a, b, c, d] = (len as u32 + 1).to_be_bytes();
    [a, b, c, d, CODE_FILE_DATA]
}

/// The block that ends a whole file.
pub const FILE_DONE: [u8; 5] = [0, 0, 0, 1, CODE_SUCCESS];

/// The block that ends a file its sender could not read.
pub fn file_failed(code: u8, message: &str) -> Vec<u8> {
    let mut out = ((message.len() as u32) + 1).to_be_bytes().to_vec();
    out.push(code);
    out.extend_from_slice(message.as_bytes());
    out
}

/// The end of the stream.
pub const END: [u8; 4] = [0, 0, 0, 0];

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    enum Owned {
        Start(String, String),
        Data(Vec<u8>),
        Done,
        Failed(u8, String),
        End,
    }

    /// Feeds `bytes` in pieces of `piece` and collects the events, data joined per file.
    fn decode(mut decoder: Decoder, bytes: &[u8], piece: usize) -> Result<Vec<Owned>, StreamError> {
        let mut out = Vec::new();
        for chunk in bytes.chunks(piece.max(1)) {
            let mut rest = chunk;
            while !rest.is_empty() && !decoder.is_done() {
                let (used, event) = decoder.next(rest)?;
                rest = &rest[used..];
                match event {
                    Some(Event::FileStart { device_name, path }) => out.push(Owned::Start(device_name, path)),
                    Some(Event::Data(d)) => match out.last_mut() {
                        Some(Owned::Data(v)) => v.extend_from_slice(d),
                        _ => out.push(Owned::Data(d.to_vec())),
                    },
                    Some(Event::FileDone) => out.push(Owned::Done),
                    Some(Event::FileFailed { code, message }) => out.push(Owned::Failed(code, message)),
                    Some(Event::End) => out.push(Owned::End),
                    None => assert!(used > 0, "no progress"),
                }
            }
        }
        Ok(out)
    }

    /// A file of an upload: device name, host path, and its bytes or the device's error.
    type UploadedFile<'a> = (&'a str, &'a str, Result<&'a [u8], &'a str>);

    fn upload_of(files: &[UploadedFile]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, path, body) in files {
            out.extend(upload_start(name, path));
            match body {
                Ok(bytes) => {
                    for block in bytes.chunks(7) {
                        out.extend(data_header(block.len()));
                        out.extend_from_slice(block);
                    }
                    out.extend(FILE_DONE);
                }
                Err(message) => out.extend(file_failed(CODE_ERROR_REMOTE, message)),
            }
        }
        out.extend(END);
        out
    }

    #[test]
    fn uploads_decode_in_any_pieces() {
        let body: Vec<u8> = (0..100u8).collect();
        let stream = upload_of(&[
            ("/var/mobile/a", "UDID/Snapshot/ab/abcd", Ok(&body)),
            ("HomeDomain-Library/x", "UDID/Snapshot/cd/cdef", Ok(b"")),
            ("backup_manifest.db", "UDID/Snapshot/ef/ef01", Err("No such file")),
        ]);
        let want = vec![
            Owned::Start("/var/mobile/a".into(), "UDID/Snapshot/ab/abcd".into()),
            Owned::Data(body.clone()),
            Owned::Done,
            Owned::Start("HomeDomain-Library/x".into(), "UDID/Snapshot/cd/cdef".into()),
            Owned::Done,
            Owned::Start("backup_manifest.db".into(), "UDID/Snapshot/ef/ef01".into()),
            Owned::Failed(CODE_ERROR_REMOTE, "No such file".into()),
            Owned::End,
        ];
        for piece in [1, 2, 3, 5, 64, 4096] {
            assert_eq!(
                decode(Decoder::upload(), &stream, piece).unwrap(),
                want,
                "pieces of {piece}"
            );
        }
    }

    #[test]
    fn downloads_have_one_name() {
        let mut stream = download_start("UDID/Status.plist");
        stream.extend(data_header(3));
        stream.extend_from_slice(b"abc");
        stream.extend(FILE_DONE);
        stream.extend(download_start("UDID/Manifest.plist"));
        stream.extend(file_failed(CODE_ERROR_LOCAL, "No such file or directory"));
        stream.extend(END);
        assert_eq!(
            decode(Decoder::download(), &stream, 2).unwrap(),
            vec![
                Owned::Start(String::new(), "UDID/Status.plist".into()),
                Owned::Data(b"abc".to_vec()),
                Owned::Done,
                Owned::Start(String::new(), "UDID/Manifest.plist".into()),
                Owned::Failed(CODE_ERROR_LOCAL, "No such file or directory".into()),
                Owned::End,
            ]
        );
    }

    #[test]
    fn hostile_lengths_are_refused_before_anything_is_allocated() {
        let mut huge_name = u32::MAX.to_be_bytes().to_vec();
        huge_name.extend_from_slice(b"x");
        assert_eq!(
            decode(Decoder::upload(), &huge_name, 64),
            Err(StreamError::NameTooLong(u32::MAX))
        );
        let mut stream = upload_start("a", "b");
        stream.extend([0, 0, 0, 0, CODE_FILE_DATA]);
        assert_eq!(decode(Decoder::upload(), &stream, 64), Err(StreamError::EmptyBlock));
        let mut stream = upload_start("a", "b");
        stream.extend([0, 0, 0, 2, 0x42, 0]);
        assert_eq!(
            decode(Decoder::upload(), &stream, 64),
            Err(StreamError::UnknownCode(0x42))
        );
        let mut stream = upload_start("a", "b");
        stream.extend([0xff, 0xff, 0xff, 0xff, CODE_ERROR_REMOTE]);
        assert!(matches!(
            decode(Decoder::upload(), &stream, 64),
            Err(StreamError::MessageTooLong(_))
        ));
        // A data block claiming 4 GiB costs nothing until its bytes come.
        let mut stream = upload_start("a", "b");
        stream.extend([0xff, 0xff, 0xff, 0xff, CODE_FILE_DATA, 1, 2, 3]);
        assert_eq!(
            decode(Decoder::upload(), &stream, 64).unwrap(),
            vec![Owned::Start("a".into(), "b".into()), Owned::Data(vec![1, 2, 3])]
        );
    }
}

//! lockdownd framing: a 4-byte big-endian length, then a plist. Requests go out as XML (every
//! real client sends XML); either format is accepted on the way in. No I/O in the encoders and
//! decoders; [`read_frame`] and [`write_frame`] apply them to any stream.

use std::io::{self, Read, Write};

use crate::error::{Error, Result};

/// Real lockdown messages are a few KiB; a claimed length beyond this is hostile or broken,
/// and is refused before anything is allocated.
pub const MAX_FRAME: u32 = 1 << 20;

pub fn encode_frame(message: &plist::Value) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    message
        .to_writer_xml(&mut body)
        .map_err(|e| Error::Protocol(format!("cannot encode plist: {e}")))?;
    let length = u32::try_from(body.len()).map_err(|_| Error::Protocol("message too large".into()))?;
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&length.to_be_bytes());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Checks a frame length prefix.
pub fn decode_length(prefix: [u8; 4]) -> Result<usize> {
    let length = u32::from_be_bytes(prefix);
    if length == 0 {
        return Err(Error::Protocol("empty lockdown message".into()));
    }
    if length > MAX_FRAME {
        return Err(Error::Protocol(format!(
            "lockdown message claims {length} bytes, more than the {MAX_FRAME} allowed"
        )));
    }
    Ok(length as usize)
}

/// Parses a body as a dictionary. libimobiledevice turns control bytes in XML into spaces
/// before parsing; we accept what the plist crate accepts and report the rest.
pub fn decode_body(body: &[u8]) -> Result<plist::Dictionary> {
    let value = plist::Value::from_reader(io::Cursor::new(body))
        .map_err(|e| Error::Protocol(format!("lockdown message is not a plist: {e}")))?;
    match value {
        plist::Value::Dictionary(d) => Ok(d),
        _ => Err(Error::Protocol("lockdown message is not a dictionary".into())),
    }
}

/// Reads one frame. `Ok(None)` on a clean end of stream before the length prefix.
pub fn read_frame<R: Read>(reader: &mut R) -> Result<Option<plist::Dictionary>> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => {
                return Err(Error::Protocol("connection closed inside a length prefix".into()));
            }
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(map_io(e)),
        }
    }
    let length = decode_length(prefix)?;
    // Grown as bytes arrive, not allocated from the claimed length.
    let mut body = Vec::new();
    reader.take(length as u64).read_to_end(&mut body).map_err(map_io)?;
    if body.len() < length {
        return Err(map_io(io::ErrorKind::UnexpectedEof.into()));
    }
    decode_body(&body).map(Some)
}

pub fn write_frame<W: Write>(writer: &mut W, message: &plist::Value) -> Result<()> {
    let bytes = encode_frame(message)?;
    writer.write_all(&bytes).map_err(map_io)?;
    writer.flush().map_err(map_io)?;
    Ok(())
}

fn map_io(e: io::Error) -> Error {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Error::Timeout(crate::client::REPLY_TIMEOUT.as_secs()),
        io::ErrorKind::UnexpectedEof => Error::Protocol("connection closed in the middle of a message".into()),
        _ => Error::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_round_trip() {
        let mut d = plist::Dictionary::new();
        d.insert("Request".into(), "QueryType".into());
        let bytes = encode_frame(&plist::Value::Dictionary(d.clone())).unwrap();
        assert_eq!(
            u32::from_be_bytes(bytes[..4].try_into().unwrap()) as usize,
            bytes.len() - 4
        );
        assert_eq!(read_frame(&mut &bytes[..]).unwrap(), Some(d));
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert_eq!(read_frame(&mut &b""[..]).unwrap(), None);
        assert!(read_frame(&mut &[0u8, 0][..]).is_err(), "short prefix");
        assert!(read_frame(&mut &[0xff, 0xff, 0xff, 0xff][..]).is_err(), "huge length");
        assert!(read_frame(&mut &[0, 0, 0, 0][..]).is_err(), "zero length");
        assert!(read_frame(&mut &[0, 0, 0, 9, b'x'][..]).is_err(), "truncated body");
        assert!(
            read_frame(&mut &[0, 0, 0, 3, b'a', b'b', b'c'][..]).is_err(),
            "not a plist"
        );
    }

    #[test]
    fn accepts_binary_plist_replies() {
        let mut d = plist::Dictionary::new();
        d.insert("Type".into(), crate::LOCKDOWN_TYPE.into());
        let mut body = Vec::new();
        plist::Value::Dictionary(d.clone()).to_writer_binary(&mut body).unwrap();
        let mut frame = (body.len() as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(&body);
        assert_eq!(read_frame(&mut &frame[..]).unwrap(), Some(d));
    }
}

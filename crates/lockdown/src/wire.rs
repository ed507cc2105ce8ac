//! Reading and writing whole plist frames ([`crate::codec`]) on any byte stream. Shared by
//! the lockdown client, service clients and the simulated phone.

use std::io::{self, Read, Write};

use crate::codec::{self, CodecError, Format};

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("the connection closed in the middle of a plist frame; check the cable and try again")]
    Truncated,
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl WireError {
    /// Whether the stream's read or write timeout ran out.
    pub fn is_timeout(&self) -> bool {
        matches!(self, WireError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
    }
}

/// Reads one frame of at most `max` bytes. `Ok(None)` on a clean end of stream before the
/// length prefix.
pub fn read_frame<R: Read>(reader: &mut R, max: u32) -> Result<Option<plist::Value>, WireError> {
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match reader.read(&mut prefix[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(WireError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let length = codec::decode_length(prefix, max)?;
    // Grown as bytes arrive, not allocated from the claimed length.
    let mut body = Vec::new();
    reader.take(length as u64).read_to_end(&mut body)?;
    if body.len() < length {
        return Err(WireError::Truncated);
    }
    Ok(Some(codec::decode_body(&body)?))
}

/// Writes one frame in `format` and flushes it.
pub fn write_frame<W: Write>(writer: &mut W, message: &plist::Value, format: Format) -> Result<(), WireError> {
    let bytes = codec::encode_frame(message, format)?;
    writer.write_all(&bytes)?;
    writer.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::MAX_FRAME;

    fn read(bytes: &[u8]) -> Result<Option<plist::Value>, WireError> {
        read_frame(&mut &bytes[..], MAX_FRAME)
    }

    #[test]
    fn frame_round_trip() {
        let mut d = plist::Dictionary::new();
        d.insert("Request".into(), "QueryType".into());
        let message = plist::Value::Dictionary(d);
        let mut bytes = Vec::new();
        write_frame(&mut bytes, &message, Format::Xml).unwrap();
        write_frame(&mut bytes, &message, Format::Binary).unwrap();
        let mut reader = &bytes[..];
        assert_eq!(read_frame(&mut reader, MAX_FRAME).unwrap().as_ref(), Some(&message));
        assert_eq!(read_frame(&mut reader, MAX_FRAME).unwrap().as_ref(), Some(&message));
        assert!(read_frame(&mut reader, MAX_FRAME).unwrap().is_none());
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(read(b"").unwrap().is_none());
        assert!(matches!(read(&[0u8, 0]), Err(WireError::Truncated)), "short prefix");
        assert!(
            matches!(read(&[0xff; 4]), Err(WireError::Codec(CodecError::TooLarge { .. }))),
            "huge length"
        );
        assert!(matches!(read(&[0; 4]), Err(WireError::Codec(CodecError::Empty))));
        assert!(matches!(read(&[0, 0, 0, 9, b'x']), Err(WireError::Truncated)));
        assert!(matches!(
            read(&[0, 0, 0, 3, b'a', b'b', b'c']),
            Err(WireError::Codec(CodecError::NotPlist(_)))
        ));
    }

    #[test]
    fn timeouts_are_recognised() {
        assert!(WireError::Io(io::ErrorKind::WouldBlock.into()).is_timeout());
        assert!(!WireError::Truncated.is_timeout());
    }
}

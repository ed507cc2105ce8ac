//! Plist framing as lockdownd and every service built on it speak it: a 4-byte big-endian
//! length, then a plist (docs/protocol.md §2.1). The frame holds any plist, a dictionary
//! (lockdownd) or an array (DeviceLink, docs/protocol.md §2.7), in XML or binary; typing it is
//! the message layer's job. Bytes in, bytes out: [`crate::wire`] applies this to streams.

use std::io;

/// Real lockdown messages are a few KiB; a claimed length beyond this is hostile or broken,
/// and is refused before anything is allocated.
pub const MAX_FRAME: u32 = 1 << 20;

/// How a frame's plist is written. Every real client sends XML to lockdownd; mobilebackup2
/// peers send binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Xml,
    Binary,
}

#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("empty plist frame (length 0); the peer is not speaking the lockdown protocol")]
    Empty,
    #[error("plist frame claims {length} bytes, more than the {max} allowed; the peer is broken or hostile")]
    TooLarge { length: u32, max: u32 },
    #[error("frame body is not a plist ({0}); the peer is not speaking the lockdown protocol")]
    NotPlist(String),
    #[error("cannot encode the plist: {0}")]
    Encode(String),
    #[error("a {0}-byte message does not fit a frame")]
    Oversized(usize),
}

/// One whole frame: length prefix and body.
pub fn encode_frame(message: &plist::Value, format: Format) -> Result<Vec<u8>, CodecError> {
    // Room for the prefix, filled in once the body's length is known.
    let mut out = vec![0u8; 4];
    let written = match format {
        Format::Xml => message.to_writer_xml(&mut out),
        Format::Binary => message.to_writer_binary(&mut out),
    };
    written.map_err(|e| CodecError::Encode(e.to_string()))?;
    let length = u32::try_from(out.len() - 4).map_err(|_| CodecError::Oversized(out.len() - 4))?;
    out[..4].copy_from_slice(&length.to_be_bytes());
    Ok(out)
}

/// Checks a length prefix against `max`.
pub fn decode_length(prefix: [u8; 4], max: u32) -> Result<usize, CodecError> {
    match u32::from_be_bytes(prefix) {
        0 => Err(CodecError::Empty),
        length if length > max => Err(CodecError::TooLarge { length, max }),
        length => Ok(length as usize),
    }
}

/// Parses a body, XML or binary. libimobiledevice turns control bytes in XML into spaces
/// before parsing; we accept what the plist crate accepts and report the rest.
pub fn decode_body(body: &[u8]) -> Result<plist::Value, CodecError> {
    plist::Value::from_reader(io::Cursor::new(body)).map_err(|e| CodecError::NotPlist(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use plist::Value;

    fn array() -> Value {
        Value::Array(vec!["DLMessageVersionExchange".into(), 400u64.into(), 0u64.into()])
    }

    #[test]
    fn frames_carry_dictionaries_and_arrays_in_either_format() {
        let mut d = plist::Dictionary::new();
        d.insert("Request".into(), "QueryType".into());
        for message in [Value::Dictionary(d), array()] {
            for format in [Format::Xml, Format::Binary] {
                let bytes = encode_frame(&message, format).unwrap();
                let length = decode_length(bytes[..4].try_into().unwrap(), MAX_FRAME).unwrap();
                assert_eq!(length, bytes.len() - 4);
                assert_eq!(bytes[4..].starts_with(b"bplist00"), format == Format::Binary);
                assert_eq!(decode_body(&bytes[4..]).unwrap(), message);
            }
        }
    }

    #[test]
    fn bad_lengths_and_bodies_are_errors() {
        assert!(matches!(decode_length([0; 4], MAX_FRAME), Err(CodecError::Empty)));
        assert!(matches!(
            decode_length([0xff; 4], MAX_FRAME),
            Err(CodecError::TooLarge { .. })
        ));
        assert!(matches!(
            decode_length([0, 0, 0, 9], 8),
            Err(CodecError::TooLarge { .. })
        ));
        assert!(matches!(decode_body(b"abc"), Err(CodecError::NotPlist(_))));
    }
}

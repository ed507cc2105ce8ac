//! The 16-byte usbmuxd header and the XML plist payload that follows it (protocol version 1,
//! message type 8). Pure functions over bytes: no sockets here.

use crate::error::{Error, Result};

pub const HEADER_LEN: usize = 16;
/// Version 1 is the plist protocol; 0 is the legacy binary one, which we do not speak.
pub const PLIST_VERSION: u32 = 1;
/// Message type carrying a plist payload.
pub const MESSAGE_PLIST: u32 = 8;
/// The daemon refuses messages over 64 KiB (usbmuxd `CMD_BUF_SIZE`); a server should too.
pub const SERVER_MAX_MESSAGE: u32 = 0x10000;
/// Replies can carry pair records and device lists; 4 MiB is far more than any real one.
pub const CLIENT_MAX_MESSAGE: u32 = 4 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Whole packet length, header included.
    pub length: u32,
    pub version: u32,
    pub message: u32,
    pub tag: u32,
}

impl Header {
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        out[0..4].copy_from_slice(&self.length.to_le_bytes());
        out[4..8].copy_from_slice(&self.version.to_le_bytes());
        out[8..12].copy_from_slice(&self.message.to_le_bytes());
        out[12..16].copy_from_slice(&self.tag.to_le_bytes());
        out
    }

    /// Decodes and checks a header; `max_len` bounds the payload we are willing to allocate.
    pub fn decode(bytes: &[u8; HEADER_LEN], max_len: u32) -> Result<Header> {
        let word = |i: usize| u32::from_le_bytes([bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]]);
        let header = Header {
            length: word(0),
            version: word(4),
            message: word(8),
            tag: word(12),
        };
        if (header.length as usize) < HEADER_LEN {
            return Err(Error::Protocol(format!(
                "usbmux packet length {} is shorter than its own header",
                header.length
            )));
        }
        if header.length > max_len {
            return Err(Error::Protocol(format!(
                "usbmux packet claims {} bytes, more than the {max_len} allowed",
                header.length
            )));
        }
        if header.version != PLIST_VERSION {
            return Err(Error::Protocol(format!(
                "usbmux protocol version {} is not supported (only 1, plist)",
                header.version
            )));
        }
        if header.message != MESSAGE_PLIST {
            return Err(Error::Protocol(format!(
                "usbmux message type {} is not a plist message",
                header.message
            )));
        }
        Ok(header)
    }

    pub fn payload_len(&self) -> usize {
        self.length as usize - HEADER_LEN
    }
}

/// Encodes one plist message. Payloads are XML: libusbmuxd parses replies only as XML.
pub fn encode_message(tag: u32, payload: &plist::Value) -> Result<Vec<u8>> {
    let mut body = Vec::new();
    payload
        .to_writer_xml(&mut body)
        .map_err(|e| Error::Protocol(format!("cannot encode plist: {e}")))?;
    let length =
        u32::try_from(HEADER_LEN + body.len()).map_err(|_| Error::Protocol("usbmux message too large".into()))?;
    let header = Header {
        length,
        version: PLIST_VERSION,
        message: MESSAGE_PLIST,
        tag,
    };
    let mut out = Vec::with_capacity(length as usize);
    out.extend_from_slice(&header.encode());
    out.extend_from_slice(&body);
    Ok(out)
}

/// Parses a payload (XML or binary plist) into a dictionary.
pub fn decode_payload(payload: &[u8]) -> Result<plist::Dictionary> {
    let value = plist::Value::from_reader(std::io::Cursor::new(payload))
        .map_err(|e| Error::Protocol(format!("usbmux payload is not a plist: {e}")))?;
    match value {
        plist::Value::Dictionary(dict) => Ok(dict),
        _ => Err(Error::Protocol("usbmux payload is not a dictionary".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let mut dict = plist::Dictionary::new();
        dict.insert("MessageType".into(), "ListDevices".into());
        let bytes = encode_message(7, &plist::Value::Dictionary(dict.clone())).unwrap();
        let header = Header::decode(bytes[..16].try_into().unwrap(), CLIENT_MAX_MESSAGE).unwrap();
        assert_eq!(header.tag, 7);
        assert_eq!(header.length as usize, bytes.len());
        assert!(bytes[16..].starts_with(b"<?xml"));
        assert_eq!(decode_payload(&bytes[16..]).unwrap(), dict);
    }

    #[test]
    fn rejects_bad_headers() {
        let mut h = Header {
            length: 8,
            version: 1,
            message: 8,
            tag: 0,
        };
        assert!(Header::decode(&h.encode(), 1000).is_err(), "shorter than header");
        h.length = u32::MAX;
        assert!(Header::decode(&h.encode(), 1000).is_err(), "huge length");
        h.length = 20;
        h.version = 0;
        assert!(Header::decode(&h.encode(), 1000).is_err(), "binary protocol");
        h.version = 1;
        h.message = 3;
        assert!(Header::decode(&h.encode(), 1000).is_err(), "wrong message type");
    }

    #[test]
    fn rejects_non_plist_and_non_dict() {
        assert!(decode_payload(b"hello").is_err());
        assert!(decode_payload(b"").is_err());
        let arr = plist::Value::Array(vec![1.into()]);
        let mut buf = Vec::new();
        arr.to_writer_xml(&mut buf).unwrap();
        assert!(decode_payload(&buf).is_err());
    }

    #[test]
    fn matches_libusbmuxd_header_bytes() {
        // docs/protocol.md §4: idevice_id's ListDevices header for a 427-byte packet, tag 1.
        let h = Header {
            length: 0x1ab,
            version: 1,
            message: 8,
            tag: 1,
        };
        assert_eq!(h.encode(), [0xab, 1, 0, 0, 1, 0, 0, 0, 8, 0, 0, 0, 1, 0, 0, 0]);
    }
}

//! Reading and writing whole usbmuxd messages on any byte stream. Shared by the client and
//! the simulated daemon.

use std::io::{self, Read, Write};

use crate::codec::{self, HEADER_LEN, Header};
use crate::error::{Error, Result};

/// Reads one message. `Ok(None)` on a clean end of stream before any header byte.
pub fn read_message<R: Read>(reader: &mut R, max_len: u32) -> Result<Option<(Header, plist::Dictionary)>> {
    let mut header_bytes = [0u8; HEADER_LEN];
    match read_exact_or_eof(reader, &mut header_bytes)? {
        0 => return Ok(None),
        HEADER_LEN => {}
        n => {
            return Err(Error::Protocol(format!(
                "connection closed after {n} bytes of a usbmux header"
            )));
        }
    }
    let header = Header::decode(&header_bytes, max_len)?;
    // Read as it arrives rather than allocated up front: a claimed length (bounded by
    // max_len) with nothing behind it then costs nothing.
    let mut payload = Vec::new();
    reader.take(header.payload_len() as u64).read_to_end(&mut payload)?;
    if payload.len() < header.payload_len() {
        return Err(Error::Protocol(
            "connection closed in the middle of a usbmux message".into(),
        ));
    }
    Ok(Some((header, codec::decode_payload(&payload)?)))
}

pub fn write_message<W: Write>(writer: &mut W, tag: u32, payload: &plist::Value) -> Result<()> {
    let bytes = codec::encode_message(tag, payload)?;
    writer.write_all(&bytes)?;
    writer.flush()?;
    Ok(())
}

/// Like `read_exact`, but reports how many bytes arrived before end of stream.
fn read_exact_or_eof<R: Read>(reader: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{CLIENT_MAX_MESSAGE, SERVER_MAX_MESSAGE};

    fn read(bytes: &[u8]) -> Result<Option<(Header, plist::Dictionary)>> {
        read_message(&mut &bytes[..], SERVER_MAX_MESSAGE)
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(read(b"").unwrap().is_none(), "clean EOF");
        assert!(read(&[1, 2, 3]).is_err(), "short header");
        let huge = Header {
            length: u32::MAX,
            version: 1,
            message: 8,
            tag: 1,
        }
        .encode();
        assert!(read(&huge).is_err(), "huge length must not allocate");
        let mut truncated = Header {
            length: 100,
            version: 1,
            message: 8,
            tag: 1,
        }
        .encode()
        .to_vec();
        truncated.extend_from_slice(b"<?xml");
        assert!(read(&truncated).is_err(), "short payload");
        let mut garbage = Header {
            length: 21,
            version: 1,
            message: 8,
            tag: 1,
        }
        .encode()
        .to_vec();
        garbage.extend_from_slice(b"hello");
        assert!(read(&garbage).is_err(), "non-plist payload");
        let wrong_tag_type = Header {
            length: 16,
            version: 1,
            message: 99,
            tag: 1,
        }
        .encode();
        assert!(read(&wrong_tag_type).is_err(), "wrong message type");
    }

    #[test]
    fn round_trip_through_a_buffer() {
        let mut dict = plist::Dictionary::new();
        dict.insert("BUID".into(), "ABC".into());
        let mut buf = Vec::new();
        write_message(&mut buf, 42, &plist::Value::Dictionary(dict.clone())).unwrap();
        let (header, got) = read_message(&mut &buf[..], CLIENT_MAX_MESSAGE).unwrap().unwrap();
        assert_eq!(header.tag, 42);
        assert_eq!(got, dict);
    }
}

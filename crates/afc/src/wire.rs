//! Reading whole AFC packets from a stream, with the codec's checks.

use std::io::{self, Read};

use crate::codec::{CodecError, HEADER_LEN, Header};

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error(transparent)]
    Codec(#[from] CodecError),
    #[error("connection closed in the middle of an AFC packet")]
    Truncated,
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads one packet: header and body. `Ok(None)` at a clean end of stream.
pub fn read_packet<R: Read>(reader: &mut R, max_len: u64) -> Result<Option<(Header, Vec<u8>)>, WireError> {
    read_packet_with(reader, max_len, |_| Vec::new())
}

/// [`read_packet`], with the body read into a buffer `buffer(len)` supplies, so a reader of
/// many large replies can reuse its buffers instead of asking the allocator (and the kernel,
/// for fresh pages) for a megabyte each time.
pub fn read_packet_with<R: Read>(
    reader: &mut R,
    max_len: u64,
    buffer: impl FnOnce(usize) -> Vec<u8>,
) -> Result<Option<(Header, Vec<u8>)>, WireError> {
    let mut header_bytes = [0u8; HEADER_LEN];
    let mut filled = 0;
    while filled < HEADER_LEN {
        match reader.read(&mut header_bytes[filled..]) {
            Ok(0) if filled == 0 => return Ok(None),
            Ok(0) => return Err(WireError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    let header = Header::decode(&header_bytes, max_len)?;
    // Bounded by max_len in decode, so the claimed length cannot force a huge allocation.
    let mut body = buffer(header.body_len());
    body.clear();
    body.resize(header.body_len(), 0);
    reader.read_exact(&mut body).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => WireError::Truncated,
        _ => WireError::Io(e),
    })?;
    Ok(Some((header, body)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::Request;

    #[test]
    fn reads_back_what_was_encoded_and_rejects_the_rest() {
        let bytes = Request::FileRefRead { handle: 1, size: 10 }.encode(4);
        let (h, body) = read_packet(&mut &bytes[..], 1 << 20).unwrap().unwrap();
        assert_eq!((h.packet_num, body.len()), (4, 16));
        assert!(read_packet(&mut &b""[..], 100).unwrap().is_none());
        assert!(matches!(read_packet(&mut &bytes[..20], 100), Err(WireError::Truncated)));
        assert!(matches!(
            read_packet(&mut &bytes[..50], 1 << 20),
            Err(WireError::Truncated)
        ));
        assert!(matches!(
            read_packet(&mut &bytes[..], 41),
            Err(WireError::Codec(CodecError::TooLarge(56)))
        ));
    }
}

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
    let body = read_body(reader, header.body_len(), buffer(header.body_len()))?;
    Ok(Some((header, body)))
}

/// Bodies larger than this are read in growing steps, so that a length field claiming
/// megabytes that never arrive costs no more memory than the bytes that did.
const FIRST_STEP: usize = 256 << 10;

/// Reads `len` bytes into `body`, reusing its allocation. Its old contents are overwritten,
/// not zeroed first: a reused megabyte buffer is not cleared for each reply.
fn read_body<R: Read>(reader: &mut R, len: usize, mut body: Vec<u8>) -> Result<Vec<u8>, WireError> {
    body.truncate(len);
    let mut filled = 0;
    while filled < len {
        let step_end = len.min(body.capacity().max(FIRST_STEP).max(filled.saturating_mul(2)));
        if body.len() < step_end {
            body.resize(step_end, 0);
        }
        reader
            .read_exact(&mut body[filled..step_end])
            .map_err(|e| match e.kind() {
                io::ErrorKind::UnexpectedEof => WireError::Truncated,
                _ => WireError::Io(e),
            })?;
        filled = step_end;
    }
    Ok(body)
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

    #[test]
    fn bodies_arrive_whole_across_steps_and_into_reused_buffers() {
        let data: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
        let bytes = crate::codec::Reply::Data(data.clone()).encode(9);
        let (_, body) = read_packet(&mut &bytes[..], 1 << 20).unwrap().unwrap();
        assert!(body == data, "a body read in steps is the body sent");
        // A reused buffer holding an older, longer reply: its tail must not survive.
        let old = vec![0xAA; 900_000];
        let (_, body) = read_packet_with(&mut &bytes[..], 1 << 20, |_| old).unwrap().unwrap();
        assert!(body == data);
        // A claim of 60 MiB with three bytes behind it is a truncated packet, nothing more.
        let mut claim = bytes[..43].to_vec();
        claim[8..16].copy_from_slice(&(60u64 << 20).to_le_bytes());
        assert!(matches!(
            read_packet(&mut &claim[..], 64 << 20),
            Err(WireError::Truncated)
        ));
    }
}

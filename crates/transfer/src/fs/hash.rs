//! SHA-256 of local files: the one file hasher, streaming through one buffer per thread.

use std::cell::RefCell;
use std::io::{self, Read};
use std::path::Path;

use sha2::{Digest, Sha256};

use super::open::{Links, open_regular};

thread_local! {
    /// Each thread reads every file through one buffer, rather than allocating (and
    /// zeroing) a megabyte per file.
    static READ_BUFFER: RefCell<Vec<u8>> = RefCell::new(vec![0u8; 1 << 20]);
}

/// Reads `path` once, handing every piece to `inspect` after it is hashed (so `inspect` may
/// change it in place, to decrypt it say). Returns the digest and the number of bytes read.
/// Only a regular file is read ([`open_regular`]).
pub fn hash_file_with(path: &Path, mut inspect: impl FnMut(&mut [u8])) -> io::Result<([u8; 32], u64)> {
    let mut file = open_regular(path, Links::Follow)?;
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    READ_BUFFER.with_borrow_mut(|buf| {
        loop {
            let n = match file.read(buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            hasher.update(&buf[..n]);
            inspect(&mut buf[..n]);
            size += n as u64;
        }
    })?;
    Ok((hasher.finalize().into(), size))
}

/// SHA-256 of a file.
pub fn sha256_file(path: &Path) -> io::Result<[u8; 32]> {
    hash_file_with(path, |_| {}).map(|(digest, _)| digest)
}

/// Lower-case hex, as `sha256sum` prints it.
pub fn hex(digest: &[u8]) -> String {
    let mut out = vec![0u8; 2 * digest.len()];
    hex_into(digest, &mut out);
    // Every byte written is an ASCII hex digit.
    String::from_utf8(out).unwrap_or_default()
}

/// Writes the lower-case hex of `bytes` into the first `2 * bytes.len()` bytes of `out`,
/// for callers that keep it on the stack.
pub fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// `N` bytes from `2N` hex digits (either case); `None` for any other text.
pub fn unhex<const N: usize>(text: &str) -> Option<[u8; N]> {
    // `from_str_radix` alone would take "+1" as a digit pair.
    if text.len() != 2 * N || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_other_text() {
        let bytes = [0x00, 0xab, 0x7f, 0xff];
        assert_eq!(unhex::<4>(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex::<4>("00AB7FFF"), Some(bytes));
        assert_eq!(unhex::<4>("00ab7ff"), None);
        assert_eq!(unhex::<4>("00ab7fgf"), None);
        assert_eq!(unhex::<2>("+1+2"), None);
        assert_eq!(unhex::<2>("é1a"), None);
    }

    #[test]
    fn matches_sha256sum() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("abc");
        std::fs::write(&path, b"abc").unwrap();
        let mut seen = 0;
        let (digest, size) = hash_file_with(&path, |piece| seen += piece.len()).unwrap();
        assert_eq!(
            hex(&digest),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!((size, seen), (3, 3));
        assert_eq!(sha256_file(&path).unwrap(), digest);
    }
}

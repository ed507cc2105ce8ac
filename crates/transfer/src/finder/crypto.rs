//! The ciphers of an encrypted backup (docs/backup-encryption.md §3–§5): AES key wrap
//! (RFC 3394) and AES-256-CBC with a zero IV and strict PKCS#7 padding, streamed so no file
//! is held whole.

use aes::Aes256;
use aes::cipher::consts::U16;
use aes::cipher::inout::InOutBuf;
use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use aes_kw::KekAes256;
use zeroize::Zeroizing;

pub const BLOCK: usize = 16;
/// A wrapped 256-bit key: 32 bytes and the 8-byte integrity block.
pub const WRAPPED: usize = 40;

/// A 256-bit key, wiped from memory when dropped; `Debug` shows nothing of it.
#[derive(Clone)]
pub struct Key(Zeroizing<[u8; 32]>);

impl Key {
    pub fn from_bytes(bytes: [u8; 32]) -> Key {
        Key(Zeroizing::new(bytes))
    }

    pub fn bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Key(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    #[error("a wrapped key has {0} bytes, not 40")]
    WrappedLength(usize),
    #[error("the key does not unwrap (the AES key wrap integrity check failed)")]
    Unwrap,
    #[error("{0} bytes is not a whole number of 16-byte blocks")]
    NotBlocks(u64),
    #[error("it is empty, but even an empty file has a block of padding")]
    Empty,
    #[error("its PKCS#7 padding is invalid: the file is cut short or damaged")]
    Padding,
}

/// AES-KW unwrap of a 40-byte wrapped key (§3).
pub fn unwrap_key(kek: &Key, wrapped: &[u8]) -> Result<Key, CryptoError> {
    if wrapped.len() != WRAPPED {
        return Err(CryptoError::WrappedLength(wrapped.len()));
    }
    let mut out = Zeroizing::new([0u8; 32]);
    KekAes256::from(*kek.bytes())
        .unwrap(wrapped, &mut out[..])
        .map_err(|_| CryptoError::Unwrap)?;
    Ok(Key(out))
}

/// AES-KW wrap: what the phone does (§7); lifeboat uses it only to make test backups.
pub fn wrap_key(kek: &Key, key: &Key) -> [u8; WRAPPED] {
    let mut out = [0u8; WRAPPED];
    // 32 bytes into 40 always fits, so this cannot fail.
    let _ = KekAes256::from(*kek.bytes()).wrap(key.bytes(), &mut out);
    out
}

/// The stored length of a file of `n` plaintext bytes (§5).
pub fn padded_len(n: u64) -> u64 {
    (n / BLOCK as u64 + 1) * BLOCK as u64
}

/// How many padding bytes end `plain`, checked strictly: n in 1..=16, all n bytes equal n (§6).
pub fn padding(plain: &[u8]) -> Result<usize, CryptoError> {
    let n = *plain.last().ok_or(CryptoError::Empty)? as usize;
    if n == 0 || n > BLOCK || n > plain.len() || plain[plain.len() - n..].iter().any(|&b| b as usize != n) {
        return Err(CryptoError::Padding);
    }
    Ok(n)
}

type CbcDec = cbc::Decryptor<Aes256>;

fn decrypt_blocks(cbc: &mut CbcDec, buf: &mut [u8]) {
    let (blocks, _tail) = InOutBuf::from(buf).into_chunks::<U16>();
    cbc.decrypt_blocks_inout_mut(blocks);
}

/// AES-256-CBC, zero IV, PKCS#7 (§4, §5): encrypts `plain` (for making test backups).
pub fn encrypt(key: &Key, plain: &[u8]) -> Vec<u8> {
    let pad = BLOCK - plain.len() % BLOCK;
    let mut buf = plain.to_vec();
    buf.extend(std::iter::repeat_n(pad as u8, pad));
    let mut cbc = cbc::Encryptor::<Aes256>::new(key.bytes().into(), &[0u8; BLOCK].into());
    let (blocks, _tail) = InOutBuf::from(&mut buf[..]).into_chunks::<U16>();
    cbc.encrypt_blocks_inout_mut(blocks);
    buf
}

/// Decrypts a whole small buffer (zero IV) and strips its padding.
pub fn decrypt(key: &Key, cipher: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut buf = cipher.to_vec();
    let mut out = Vec::with_capacity(cipher.len());
    let mut stream = Decryptor::new(key);
    stream.update(&mut buf, &mut |plain| out.extend_from_slice(plain));
    stream.finish(&mut |plain| out.extend_from_slice(plain))?;
    Ok(out)
}

/// Checks the padding of a blob from its last 32 bytes (or 16, for a one-block blob): the
/// last block decrypts with the one before it as IV. Returns the padding length.
pub fn check_tail(key: &Key, tail: &[u8]) -> Result<usize, CryptoError> {
    let (iv, last) = match tail.len() {
        16 => ([0u8; BLOCK], tail),
        32 => {
            let mut iv = [0u8; BLOCK];
            iv.copy_from_slice(&tail[..BLOCK]);
            (iv, &tail[BLOCK..])
        }
        n => return Err(CryptoError::NotBlocks(n as u64)),
    };
    let mut block = [0u8; BLOCK];
    block.copy_from_slice(last);
    let mut cbc = CbcDec::new(key.bytes().into(), &iv.into());
    decrypt_blocks(&mut cbc, &mut block);
    padding(&block)
}

/// Streaming AES-256-CBC decryption, zero IV, in the caller's buffer: each piece is
/// decrypted where it lies, and the last plaintext block is held back until
/// [`Decryptor::finish`], which checks and strips the padding (§6, DSI's pattern). Pieces
/// may be any length; a block split between two is put together in a small carry.
pub struct Decryptor {
    cbc: CbcDec,
    /// Ciphertext of a block not yet whole.
    carry: [u8; BLOCK],
    carried: usize,
    /// The newest plaintext block, not handed out: it may be the last, with the padding.
    held: Option<[u8; BLOCK]>,
    seen: u64,
}

impl Decryptor {
    pub fn new(key: &Key) -> Decryptor {
        Decryptor {
            cbc: CbcDec::new(key.bytes().into(), &[0u8; BLOCK].into()),
            carry: [0; BLOCK],
            carried: 0,
            held: None,
            seen: 0,
        }
    }

    /// Decrypts `piece` in place (its bytes are plaintext afterwards, but for a split block
    /// at its end) and hands out the plaintext it can already give.
    pub fn update(&mut self, piece: &mut [u8], out: &mut dyn FnMut(&[u8])) {
        self.seen += piece.len() as u64;
        let mut rest = piece;
        if self.carried > 0 {
            let take = (BLOCK - self.carried).min(rest.len());
            self.carry[self.carried..self.carried + take].copy_from_slice(&rest[..take]);
            self.carried += take;
            rest = &mut rest[take..];
            if self.carried < BLOCK {
                return;
            }
            self.carried = 0;
            let mut block = self.carry;
            decrypt_blocks(&mut self.cbc, &mut block);
            self.hand_out(&block, out);
        }
        let whole = rest.len() - rest.len() % BLOCK;
        let (blocks, tail) = rest.split_at_mut(whole);
        if !blocks.is_empty() {
            decrypt_blocks(&mut self.cbc, blocks);
            self.hand_out(blocks, out);
        }
        self.carry[..tail.len()].copy_from_slice(tail);
        self.carried = tail.len();
    }

    /// Hands out the held block and all of `plain` (whole blocks) but its last block,
    /// which is held instead.
    fn hand_out(&mut self, plain: &[u8], out: &mut dyn FnMut(&[u8])) {
        if let Some(held) = self.held.take() {
            out(&held);
        }
        let (before, last) = plain.split_at(plain.len() - BLOCK);
        if !before.is_empty() {
            out(before);
        }
        let mut block = [0u8; BLOCK];
        block.copy_from_slice(last);
        self.held = Some(block);
    }

    /// Checks the padding of the last block and hands out what is left of it.
    pub fn finish(self, out: &mut dyn FnMut(&[u8])) -> Result<(), CryptoError> {
        if self.seen == 0 {
            return Err(CryptoError::Empty);
        }
        let (Some(last), 0) = (self.held, self.carried) else {
            return Err(CryptoError::NotBlocks(self.seen));
        };
        let pad = padding(&last)?;
        out(&last[..BLOCK - pad]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn key(s: &str) -> Key {
        Key::from_bytes(unhex(s).try_into().unwrap())
    }

    /// RFC 3394 §4.6: 256 bits of key data with a 256-bit KEK.
    #[test]
    fn rfc3394_wrap_256_with_256() {
        let kek = key("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F");
        let data = key("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F");
        let wrapped = unhex("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21");
        assert_eq!(wrap_key(&kek, &data).to_vec(), wrapped);
        assert_eq!(unwrap_key(&kek, &wrapped).unwrap().bytes(), data.bytes());
        let mut bad = wrapped.clone();
        bad[7] ^= 1;
        assert_eq!(unwrap_key(&kek, &bad).unwrap_err(), CryptoError::Unwrap);
        assert_eq!(
            unwrap_key(&kek, &wrapped[..39]).unwrap_err(),
            CryptoError::WrappedLength(39)
        );
    }

    /// docs/backup-encryption.md §2: this WPKY unwraps to 32 zero bytes under the vector's key.
    #[test]
    fn known_wpky_unwraps() {
        let kek = key("ec8edc160b5745ccae000bfb4787630f322821191fba7eea38feab2c6307cd9b");
        let wpky = unhex("528c9c5171bf8bef1ea397cf29d2a838c90529df02a6ad2f823a1c6f3a5b2040e2a309c520c6a2ab");
        assert_eq!(unwrap_key(&kek, &wpky).unwrap().bytes(), &[0u8; 32]);
    }

    #[test]
    fn cbc_round_trip_in_any_pieces() {
        let k = Key::from_bytes([7; 32]);
        for len in [0usize, 1, 15, 16, 17, 100, 4096] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 31 % 251) as u8).collect();
            let cipher = encrypt(&k, &plain);
            assert_eq!(cipher.len() as u64, padded_len(len as u64));
            for piece in [1, 5, 16, 33, 5000] {
                let mut out = Vec::new();
                let mut d = Decryptor::new(&k);
                let mut cipher = cipher.clone();
                for chunk in cipher.chunks_mut(piece) {
                    d.update(chunk, &mut |p| out.extend_from_slice(p));
                }
                d.finish(&mut |p| out.extend_from_slice(p)).unwrap();
                assert_eq!(out, plain, "len {len} piece {piece}");
            }
            let tail = &cipher[cipher.len().saturating_sub(32)..];
            assert_eq!(check_tail(&k, tail).unwrap(), BLOCK - len % BLOCK);
        }
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let k = Key::from_bytes([9; 32]);
        let cipher = encrypt(&k, b"hello, world, this is two blocks");
        assert_eq!(
            decrypt(&k, &cipher[..cipher.len() - 1]).unwrap_err(),
            CryptoError::NotBlocks(47)
        );
        assert_eq!(decrypt(&k, &[]).unwrap_err(), CryptoError::Empty);
        assert_eq!(decrypt(&k, &cipher[..32]).unwrap_err(), CryptoError::Padding);
        assert_eq!(
            decrypt(&Key::from_bytes([1; 32]), &cipher).unwrap_err(),
            CryptoError::Padding
        );
        assert_eq!(padding(&[1, 2, 0]).unwrap_err(), CryptoError::Padding);
        assert_eq!(padding(&[3, 2, 2]).unwrap(), 2);
        assert_eq!(padding(&[17; 17]).unwrap_err(), CryptoError::Padding);
    }
}

//! Backup encryption as a phone does it (docs/backup-encryption.md §7): a BackupKeyBag of
//! TLVs (§1) whose class keys are wrapped with a key derived from the password (§2:
//! PBKDF2-SHA256 then PBKDF2-SHA1), AES key wrap (§3), and AES-256-CBC with a zero IV and
//! PKCS#7 for Manifest.db and every file (§4, §5).

use aes::Aes256;
use aes::cipher::{BlockEncryptMut, KeyIvInit, block_padding::NoPadding, block_padding::Pkcs7};
use aes_kw::KekAes256;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// The classes of a backup keybag, in the order real bags list them (§1).
const CLASSES: [u32; 11] = [11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
/// The class that wraps the Manifest.db key (§4: real backups use 4).
pub const MANIFEST_CLASS: u32 = 4;

/// A phone's backup keys under one password.
#[derive(Clone)]
pub struct BackupKeys {
    /// The BackupKeyBag TLVs for Manifest.plist.
    pub keybag: Vec<u8>,
    class_keys: Vec<(u32, [u8; 32])>,
    /// Seeds the per-file keys, so an unchanged file keeps its key from run to run.
    file_secret: [u8; 32],
}

fn tlv(out: &mut Vec<u8>, tag: &[u8; 4], value: &[u8]) {
    out.extend_from_slice(tag);
    out.extend_from_slice(&(value.len() as u32).to_be_bytes());
    out.extend_from_slice(value);
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::thread_rng().fill_bytes(&mut out);
    out
}

/// The password key (§2).
fn password_key(password: &str, dpsl: &[u8], dpic: u32, salt: &[u8], iter: u32) -> [u8; 32] {
    let mut k1 = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), dpsl, dpic.max(1), &mut k1);
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha1::Sha1>(&k1, salt, iter.max(1), &mut key);
    key
}

/// AES key wrap (RFC 3394) of a 32-byte key: 40 bytes.
pub fn wrap(kek: &[u8; 32], key: &[u8; 32]) -> [u8; 40] {
    let mut out = [0u8; 40];
    // A 32-byte key under a 32-byte KEK always wraps.
    let _ = KekAes256::from(*kek).wrap(key, &mut out);
    out
}

/// AES-256-CBC, zero IV, PKCS#7: `16 · (⌊n/16⌋ + 1)` bytes for n (§5).
pub fn encrypt(key: &[u8; 32], plaintext: &[u8]) -> Vec<u8> {
    let mut buf = plaintext.to_vec();
    let len = buf.len();
    buf.resize(len + 16 - len % 16, 0);
    let cipher = cbc::Encryptor::<Aes256>::new(key.into(), &[0u8; 16].into());
    match cipher.encrypt_padded_mut::<Pkcs7>(&mut buf, len) {
        Ok(out) => out.to_vec(),
        // The buffer has room for the padding by construction.
        Err(_) => Vec::new(),
    }
}

impl BackupKeys {
    /// New random class keys under `password`, with `dpic` SHA-256 and `iter` SHA-1 rounds
    /// (real phones: 10,000,000 and 10,000).
    pub fn new(password: &str, dpic: u32, iter: u32) -> BackupKeys {
        let (dpsl, salt): ([u8; 20], [u8; 20]) = (random(), random());
        let passkey = password_key(password, &dpsl, dpic, &salt, iter);
        let device_key: [u8; 32] = random();
        let mut bag = Vec::new();
        tlv(&mut bag, b"VERS", &5u32.to_be_bytes());
        tlv(&mut bag, b"TYPE", &1u32.to_be_bytes());
        tlv(&mut bag, b"UUID", &random::<16>());
        tlv(&mut bag, b"HMCK", &random::<40>());
        tlv(&mut bag, b"WRAP", &0u32.to_be_bytes());
        tlv(&mut bag, b"SALT", &salt);
        tlv(&mut bag, b"ITER", &iter.max(1).to_be_bytes());
        tlv(&mut bag, b"DPWT", &1u32.to_be_bytes());
        tlv(&mut bag, b"DPIC", &dpic.max(1).to_be_bytes());
        tlv(&mut bag, b"DPSL", &dpsl);
        let mut class_keys = Vec::new();
        for class in CLASSES {
            let key: [u8; 32] = random();
            // §7 step 2: classes 5 and 9-11 are also under the device key (WRAP 3).
            let device_bound = matches!(class, 5 | 9..=11);
            let wpky = if device_bound {
                let mut inner = key;
                let cipher = cbc::Encryptor::<Aes256>::new(&device_key.into(), &[0u8; 16].into());
                let _ = cipher.encrypt_padded_mut::<NoPadding>(&mut inner, 32);
                wrap(&passkey, &inner)
            } else {
                wrap(&passkey, &key)
            };
            tlv(&mut bag, b"UUID", &random::<16>());
            tlv(&mut bag, b"CLAS", &class.to_be_bytes());
            tlv(&mut bag, b"WRAP", &(if device_bound { 3u32 } else { 2 }).to_be_bytes());
            tlv(&mut bag, b"KTYP", &0u32.to_be_bytes());
            tlv(&mut bag, b"WPKY", &wpky);
            class_keys.push((class, key));
        }
        BackupKeys {
            keybag: bag,
            class_keys,
            file_secret: random(),
        }
    }

    fn class_key(&self, class: u32) -> [u8; 32] {
        self.class_keys
            .iter()
            .find(|(c, _)| *c == class)
            .map(|(_, k)| *k)
            .unwrap_or([0; 32])
    }

    /// LE u32 class ‖ the wrapped key: `ManifestKey` and `EncryptionKey` (§4, §5).
    pub fn wrapped(&self, class: u32, key: &[u8; 32]) -> Vec<u8> {
        let mut out = class.to_le_bytes().to_vec();
        out.extend_from_slice(&wrap(&self.class_key(class), key));
        out
    }

    /// A file's key, the same for the same file content and time under this keybag.
    pub fn file_key(&self, file_id: &str, size: u64, modified: i64) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.file_secret);
        h.update(file_id.as_bytes());
        h.update(size.to_le_bytes());
        h.update(modified.to_le_bytes());
        h.finalize().into()
    }

    /// The Manifest.db key of this keybag.
    pub fn manifest_key(&self) -> [u8; 32] {
        self.file_key("Manifest.db", 0, 0)
    }

    /// Decrypts a Manifest.db this keybag encrypted (for an incremental backup).
    pub fn decrypt_manifest(&self, ciphertext: &[u8]) -> Option<Vec<u8>> {
        use aes::cipher::BlockDecryptMut;
        let mut buf = ciphertext.to_vec();
        let cipher = cbc::Decryptor::<Aes256>::new(&self.manifest_key().into(), &[0u8; 16].into());
        cipher.decrypt_padded_mut::<Pkcs7>(&mut buf).ok().map(<[u8]>::to_vec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/backup-encryption.md §2: pyiosbackup's known-answer vector. Ten million rounds
    /// take minutes unoptimised: `cargo test --release -p fake-iphone -- --ignored`.
    #[test]
    #[ignore]
    fn the_known_answer_vector() {
        let key = password_key("0000", &[0; 20], 10_000_000, &[0; 20], 10_000);
        let hex: String = key.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "ec8edc160b5745ccae000bfb4787630f322821191fba7eea38feab2c6307cd9b");
        let wpky = wrap(&key, &[0; 32]);
        let hex: String = wpky.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "528c9c5171bf8bef1ea397cf29d2a838c90529df02a6ad2f823a1c6f3a5b2040e2a309c520c6a2ab"
        );
    }

    #[test]
    fn the_known_answer_wrap() {
        let key: Vec<u8> = (0..32)
            .map(|i| {
                u8::from_str_radix(
                    &"ec8edc160b5745ccae000bfb4787630f322821191fba7eea38feab2c6307cd9b"[2 * i..2 * i + 2],
                    16,
                )
                .unwrap()
            })
            .collect();
        let wpky = wrap(&key.try_into().unwrap(), &[0; 32]);
        let hex: String = wpky.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "528c9c5171bf8bef1ea397cf29d2a838c90529df02a6ad2f823a1c6f3a5b2040e2a309c520c6a2ab"
        );
    }

    #[test]
    fn ciphertext_is_padded_and_manifests_decrypt() {
        let keys = BackupKeys::new("pw", 1, 1);
        assert_eq!(encrypt(&[1; 32], b"").len(), 16);
        assert_eq!(encrypt(&[1; 32], &[0; 16]).len(), 32);
        assert_eq!(encrypt(&[1; 32], &[0; 17]).len(), 32);
        let plain = b"SQLite format 3\0 and more".to_vec();
        let sealed = encrypt(&keys.manifest_key(), &plain);
        assert_eq!(keys.decrypt_manifest(&sealed), Some(plain));
        assert_eq!(keys.wrapped(4, &[0; 32]).len(), 44);
    }
}

//! The backup keybag (docs/backup-encryption.md §1), the password → key derivation (§2),
//! and the class keys it unwraps (§3).

use std::collections::BTreeMap;

use pbkdf2::pbkdf2_hmac;
use sha1::Sha1;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::crypto::{self, CryptoError, Key};

/// The first-stage (SHA-256) rounds lifeboat will run at most: real bags have 10,000,000
/// (§2); a hostile bag must not keep the machine busy for hours.
pub const MAX_DPIC: u32 = 100_000_000;
/// The second-stage (SHA-1) rounds at most; real bags have 10,000.
pub const MAX_ITER: u32 = 10_000_000;

/// A backup password: its UTF-8 bytes, no normalisation (§2), wiped when dropped.
pub struct Password(Zeroizing<Vec<u8>>);

impl Password {
    pub fn new(text: String) -> Password {
        Password(Zeroizing::new(text.into_bytes()))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(..)")
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeybagError {
    #[error("the keybag is cut short at byte {0}")]
    Truncated(usize),
    #[error("the keybag has no {0}")]
    Missing(&'static str),
    #[error("the keybag's {tag} is {len} bytes, not 4")]
    BadInt { tag: String, len: usize },
    #[error("the keybag is of type {0}, not a backup keybag (1)")]
    NotBackup(u32),
    #[error("the keybag asks for {rounds} {stage} key derivation rounds, more than the {max} lifeboat runs")]
    TooCostly { stage: &'static str, rounds: u32, max: u32 },
    #[error("the backup password is wrong: the keybag's class keys do not unwrap with it")]
    WrongPassword,
    #[error("the keybag has no class key that a password unwraps")]
    NoPasswordClasses,
}

/// One protection class's entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedClass {
    pub class: u32,
    /// 1 device key, 2 password key, 3 both (§3).
    pub wrap: u32,
    pub key_type: u32,
    pub wrapped: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Keybag {
    pub version: u32,
    pub kind: u32,
    pub uuid: Vec<u8>,
    pub wrap: u32,
    pub salt: Vec<u8>,
    pub iterations: u32,
    /// The first KDF stage; absent before iOS 10.2 (§2).
    pub dp_salt: Option<Vec<u8>>,
    pub dp_iterations: Option<u32>,
    pub classes: BTreeMap<u32, WrappedClass>,
}

fn int(tag: &[u8; 4], value: &[u8]) -> Result<u32, KeybagError> {
    let bytes: [u8; 4] = value.try_into().map_err(|_| KeybagError::BadInt {
        tag: String::from_utf8_lossy(tag).into_owned(),
        len: value.len(),
    })?;
    Ok(u32::from_be_bytes(bytes))
}

/// Parses the TLVs: 4-byte tag, big-endian u32 length, value (§1). The first UUID and
/// WRAP belong to the bag; each later UUID opens a class block. Unknown tags are skipped.
pub fn parse(bytes: &[u8]) -> Result<Keybag, KeybagError> {
    let mut bag = Keybag::default();
    let (mut have_uuid, mut have_wrap, mut have_salt, mut have_iter) = (false, false, false, false);
    let mut current: Option<WrappedClass> = None;
    let mut at = 0usize;
    let finish = |bag: &mut Keybag, class: Option<WrappedClass>| {
        if let Some(class) = class
            && !class.wrapped.is_empty()
        {
            bag.classes.insert(class.class, class);
        }
    };
    while at < bytes.len() {
        let header = bytes.get(at..at + 8).ok_or(KeybagError::Truncated(at))?;
        let tag: [u8; 4] = [header[0], header[1], header[2], header[3]];
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let value = bytes
            .get(at + 8..(at + 8).checked_add(len).ok_or(KeybagError::Truncated(at))?)
            .ok_or(KeybagError::Truncated(at))?;
        at += 8 + len;
        match &tag {
            b"UUID" if !have_uuid => {
                bag.uuid = value.to_vec();
                have_uuid = true;
            }
            b"UUID" => {
                finish(&mut bag, current.take());
                current = Some(WrappedClass {
                    class: 0,
                    wrap: 0,
                    key_type: 0,
                    wrapped: Vec::new(),
                });
            }
            b"CLAS" | b"WPKY" | b"KTYP" if current.is_some() => {
                if let Some(class) = current.as_mut() {
                    match &tag {
                        b"CLAS" => class.class = int(&tag, value)?,
                        b"KTYP" => class.key_type = int(&tag, value)?,
                        _ => class.wrapped = value.to_vec(),
                    }
                }
            }
            b"WRAP" => match current.as_mut() {
                Some(class) => class.wrap = int(&tag, value)?,
                None if !have_wrap => {
                    bag.wrap = int(&tag, value)?;
                    have_wrap = true;
                }
                None => {}
            },
            b"VERS" => bag.version = int(&tag, value)?,
            b"TYPE" => bag.kind = int(&tag, value)? & 0x3FFF_FFFF,
            b"SALT" => {
                bag.salt = value.to_vec();
                have_salt = true;
            }
            b"ITER" => {
                bag.iterations = int(&tag, value)?;
                have_iter = true;
            }
            b"DPSL" => bag.dp_salt = Some(value.to_vec()),
            b"DPIC" => bag.dp_iterations = Some(int(&tag, value)?),
            _ => {}
        }
    }
    finish(&mut bag, current);
    if bag.kind != 1 {
        return Err(KeybagError::NotBackup(bag.kind));
    }
    if !have_salt {
        return Err(KeybagError::Missing("SALT"));
    }
    if !have_iter || bag.iterations == 0 {
        return Err(KeybagError::Missing("ITER"));
    }
    if bag.dp_salt.is_some() != bag.dp_iterations.is_some() {
        return Err(KeybagError::Missing(if bag.dp_salt.is_some() {
            "DPIC"
        } else {
            "DPSL"
        }));
    }
    Ok(bag)
}

impl Keybag {
    /// Before iOS 10.2 the bag has no DPSL/DPIC and the key is one PBKDF2-SHA1 stage (§2).
    pub fn is_legacy(&self) -> bool {
        self.dp_iterations.is_none_or(|n| n == 0)
    }

    /// The password key: PBKDF2-HMAC-SHA256 over DPSL × DPIC, then PBKDF2-HMAC-SHA1 over
    /// SALT × ITER (§2). Takes about 1.5 s at the real counts in an optimised build.
    pub fn derive(&self, password: &Password) -> Result<Key, KeybagError> {
        if self.iterations > MAX_ITER {
            return Err(KeybagError::TooCostly {
                stage: "SHA-1",
                rounds: self.iterations,
                max: MAX_ITER,
            });
        }
        let mut key = Zeroizing::new([0u8; 32]);
        match (&self.dp_salt, self.dp_iterations) {
            (Some(dp_salt), Some(rounds)) if rounds > 0 => {
                if rounds > MAX_DPIC {
                    return Err(KeybagError::TooCostly {
                        stage: "SHA-256",
                        rounds,
                        max: MAX_DPIC,
                    });
                }
                let mut first = Zeroizing::new([0u8; 32]);
                pbkdf2_hmac::<Sha256>(password.bytes(), dp_salt, rounds, &mut first[..]);
                pbkdf2_hmac::<Sha1>(&first[..], &self.salt, self.iterations, &mut key[..]);
            }
            _ => pbkdf2_hmac::<Sha1>(password.bytes(), &self.salt, self.iterations, &mut key[..]),
        }
        Ok(Key::from_bytes(*key))
    }

    /// Unwraps every class key wrapped with the password (WRAP & 2, §3). None unwrapping is a
    /// wrong password; some failing is a damaged bag, listed in [`ClassKeys::failed`].
    pub fn unlock(&self, key: &Key) -> Result<ClassKeys, KeybagError> {
        let mut keys = ClassKeys::default();
        for class in self.classes.values().filter(|c| c.wrap & 2 != 0) {
            match crypto::unwrap_key(key, &class.wrapped) {
                Ok(k) => {
                    keys.keys.insert(class.class, k);
                }
                Err(_) => keys.failed.push(class.class),
            }
        }
        match (keys.keys.is_empty(), keys.failed.is_empty()) {
            (true, true) => Err(KeybagError::NoPasswordClasses),
            (true, false) => Err(KeybagError::WrongPassword),
            _ => Ok(keys),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the wrapped key has {0} bytes, not 44 (a 4-byte class and 40 wrapped bytes)")]
    Length(usize),
    #[error("the keybag has no key for protection class {0}")]
    NoClass(u32),
    #[error("its key does not unwrap with class key {0}")]
    Unwrap(u32),
}

/// The unwrapped class keys, by protection class; wiped when dropped.
#[derive(Debug, Default)]
pub struct ClassKeys {
    keys: BTreeMap<u32, Key>,
    /// Classes whose WPKY did not unwrap although others did.
    pub failed: Vec<u32>,
}

impl ClassKeys {
    pub fn get(&self, class: u32) -> Option<&Key> {
        self.keys.get(&class)
    }

    /// Unwraps a ManifestKey or an MBFile EncryptionKey: u32 little-endian class ‖ 40 wrapped
    /// bytes (§4, §5). Returns the class and the key.
    pub fn unwrap_prefixed(&self, blob: &[u8]) -> Result<(u32, Key), KeyError> {
        if blob.len() != 4 + crypto::WRAPPED {
            return Err(KeyError::Length(blob.len()));
        }
        let class = u32::from_le_bytes([blob[0], blob[1], blob[2], blob[3]]);
        let class_key = self.get(class).ok_or(KeyError::NoClass(class))?;
        let key = crypto::unwrap_key(class_key, &blob[4..]).map_err(|e| match e {
            CryptoError::WrappedLength(n) => KeyError::Length(n + 4),
            _ => KeyError::Unwrap(class),
        })?;
        Ok((class, key))
    }
}

/// Writes a keybag in the order of §1 and §7 step 3 (for making test backups): the header,
/// then one 5-TLV block per class.
pub fn encode(bag: &Keybag) -> Vec<u8> {
    let mut out = Vec::new();
    let mut tlv = |tag: &[u8; 4], value: &[u8]| {
        out.extend_from_slice(tag);
        out.extend_from_slice(&(value.len() as u32).to_be_bytes());
        out.extend_from_slice(value);
    };
    tlv(b"VERS", &bag.version.to_be_bytes());
    tlv(b"TYPE", &bag.kind.to_be_bytes());
    tlv(b"UUID", &bag.uuid);
    tlv(b"HMCK", &[0u8; 40]);
    tlv(b"WRAP", &bag.wrap.to_be_bytes());
    tlv(b"SALT", &bag.salt);
    tlv(b"ITER", &bag.iterations.to_be_bytes());
    if let (Some(dp_salt), Some(dpic)) = (&bag.dp_salt, bag.dp_iterations) {
        tlv(b"DPWT", &1u32.to_be_bytes());
        tlv(b"DPIC", &dpic.to_be_bytes());
        tlv(b"DPSL", dp_salt);
    }
    for class in bag.classes.values().rev() {
        let mut uuid = bag.uuid.clone();
        if let Some(last) = uuid.last_mut() {
            *last ^= class.class as u8;
        }
        tlv(b"UUID", &uuid);
        tlv(b"CLAS", &class.class.to_be_bytes());
        tlv(b"WRAP", &class.wrap.to_be_bytes());
        tlv(b"KTYP", &class.key_type.to_be_bytes());
        tlv(b"WPKY", &class.wrapped);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    fn small_bag(password: &Password) -> (Keybag, Key) {
        let mut bag = Keybag {
            version: 5,
            kind: 1,
            uuid: vec![0xAB; 16],
            wrap: 0,
            salt: vec![1; 20],
            iterations: 3,
            dp_salt: Some(vec![2; 20]),
            dp_iterations: Some(5),
            classes: BTreeMap::new(),
        };
        let key = bag.derive(password).unwrap();
        for class in 1..=11u32 {
            let class_key = Key::from_bytes([class as u8; 32]);
            bag.classes.insert(
                class,
                WrappedClass {
                    class,
                    wrap: if class == 5 || class >= 9 { 3 } else { 2 },
                    key_type: 0,
                    wrapped: crypto::wrap_key(&key, &class_key).to_vec(),
                },
            );
        }
        (bag, key)
    }

    /// docs/backup-encryption.md §2: password `0000`, zero salts, the real counts. The one
    /// test that runs the real 10,000,000 + 10,000 rounds.
    #[test]
    fn known_answer_vector_with_real_counts() {
        let bag = Keybag {
            kind: 1,
            salt: vec![0; 20],
            iterations: 10_000,
            dp_salt: Some(vec![0; 20]),
            dp_iterations: Some(10_000_000),
            ..Default::default()
        };
        let key = bag.derive(&Password::new("0000".into())).unwrap();
        assert_eq!(
            hex(key.bytes()),
            "ec8edc160b5745ccae000bfb4787630f322821191fba7eea38feab2c6307cd9b"
        );
    }

    #[test]
    fn round_trip_and_unlock() {
        let password = Password::new("correct horse".into());
        let (bag, key) = small_bag(&password);
        let parsed = parse(&encode(&bag)).unwrap();
        assert_eq!(parsed, bag);
        assert!(!parsed.is_legacy());
        let keys = parsed.unlock(&parsed.derive(&password).unwrap()).unwrap();
        assert_eq!(keys.get(4).unwrap().bytes(), &[4; 32]);
        assert!(keys.failed.is_empty());
        let wrapped = crypto::wrap_key(keys.get(3).unwrap(), &Key::from_bytes([42; 32]));
        let mut prefixed = 3u32.to_le_bytes().to_vec();
        prefixed.extend_from_slice(&wrapped);
        let (class, file_key) = keys.unwrap_prefixed(&prefixed).unwrap();
        assert_eq!((class, file_key.bytes()), (3, &[42; 32]));
        prefixed[0] = 4;
        assert_eq!(keys.unwrap_prefixed(&prefixed).unwrap_err(), KeyError::Unwrap(4));
        prefixed[0] = 12;
        assert_eq!(keys.unwrap_prefixed(&prefixed).unwrap_err(), KeyError::NoClass(12));
        assert_eq!(keys.unwrap_prefixed(&prefixed[..43]).unwrap_err(), KeyError::Length(43));
        let wrong = parsed.derive(&Password::new("wrong".into())).unwrap();
        assert_eq!(parsed.unlock(&wrong).unwrap_err(), KeybagError::WrongPassword);
        drop(key);
    }

    #[test]
    fn legacy_bag_uses_one_sha1_stage() {
        let password = Password::new("pw".into());
        let (mut bag, _) = small_bag(&password);
        bag.dp_salt = None;
        bag.dp_iterations = None;
        let parsed = parse(&encode(&bag)).unwrap();
        assert!(parsed.is_legacy());
        let mut expected = [0u8; 32];
        pbkdf2_hmac::<Sha1>(b"pw", &[1; 20], 3, &mut expected);
        assert_eq!(parsed.derive(&password).unwrap().bytes(), &expected);
    }

    #[test]
    fn hostile_bags_are_errors() {
        let (bag, _) = small_bag(&Password::new("x".into()));
        let bytes = encode(&bag);
        for cut in 0..bytes.len() {
            let _ = parse(&bytes[..cut]);
        }
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(parse(&huge), Err(KeybagError::Truncated(0))));
        let costly = Keybag {
            dp_iterations: Some(u32::MAX),
            ..bag.clone()
        };
        assert!(matches!(
            costly.derive(&Password::new("x".into())),
            Err(KeybagError::TooCostly { .. })
        ));
        let system = Keybag { kind: 0, ..bag };
        assert_eq!(parse(&encode(&system)).unwrap_err(), KeybagError::NotBackup(0));
    }

    #[test]
    fn a_password_is_never_printed() {
        assert_eq!(format!("{:?}", Password::new("x".into())), "Password(..)");
    }
}

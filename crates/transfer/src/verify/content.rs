//! Cheap structural checks that catch files damaged before they were hashed (a photo
//! truncated on the phone hashes "correctly"): JPEG starts with SOI and ends with EOI, every
//! PNG chunk's CRC matches and IEND ends the file, and an ISO-BMFF file (HEIC, MOV, MP4)
//! is a run of boxes that ends exactly at the end of the file. Fed the bytes as they stream,
//! so a file is read once for its hash and its check together.

/// Which check a file gets, by its extension.
pub fn checker_for(name: &str) -> Option<Checker> {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase())?;
    match ext.as_str() {
        "jpg" | "jpeg" => Some(Checker::Jpeg {
            head: Vec::new(),
            tail: [0; 2],
            seen: 0,
        }),
        "png" => Some(Checker::Png(Png::default())),
        "heic" | "heif" | "mov" | "mp4" | "m4v" => Some(Checker::Bmff(Bmff::default())),
        _ => None,
    }
}

pub enum Checker {
    Jpeg { head: Vec<u8>, tail: [u8; 2], seen: u64 },
    Png(Png),
    Bmff(Bmff),
}

impl Checker {
    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Checker::Jpeg { head, tail, seen } => {
                if head.len() < 2 {
                    head.extend(bytes.iter().take(2 - head.len()));
                }
                for &b in bytes.iter().rev().take(2).rev() {
                    tail[0] = tail[1];
                    tail[1] = b;
                }
                *seen += bytes.len() as u64;
            }
            Checker::Png(png) => png.update(bytes),
            Checker::Bmff(bmff) => bmff.update(bytes),
        }
    }

    /// `Err` with what is wrong, once the whole file has been fed.
    pub fn finish(self) -> Result<(), String> {
        match self {
            Checker::Jpeg { head, tail, seen } => {
                if head != [0xFF, 0xD8] {
                    return Err("not a JPEG: it does not start with the SOI marker".into());
                }
                if seen < 4 || tail != [0xFF, 0xD9] {
                    return Err("JPEG is cut short: it does not end with the EOI marker".into());
                }
                Ok(())
            }
            Checker::Png(png) => png.finish(),
            Checker::Bmff(bmff) => bmff.finish(),
        }
    }
}

const PNG_SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A];

/// Where a streaming PNG walk is.
#[derive(Default, PartialEq, Eq)]
enum PngPart {
    #[default]
    Signature,
    /// A chunk's length and type.
    Header,
    Data,
    Crc,
    /// After IEND: nothing may follow.
    End,
}

/// A streaming PNG chunk walker.
#[derive(Default)]
pub struct Png {
    part: PngPart,
    /// Bytes of the signature, a header or a CRC gathered across calls.
    gathered: Vec<u8>,
    data_left: u64,
    chunk_type: [u8; 4],
    /// CRC-32 over the chunk's type and data, so far.
    crc: crc32fast::Hasher,
    error: Option<String>,
}

impl Png {
    /// Moves up to `want` bytes into `gathered`; true when it holds `want`.
    fn gather(&mut self, bytes: &mut &[u8], want: usize) -> bool {
        let take = (want - self.gathered.len()).min(bytes.len());
        self.gathered.extend_from_slice(&bytes[..take]);
        *bytes = &bytes[take..];
        self.gathered.len() == want
    }

    fn update(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() && self.error.is_none() {
            match self.part {
                PngPart::Signature => {
                    if self.gather(&mut bytes, 8) {
                        if self.gathered != PNG_SIGNATURE {
                            self.error = Some("not a PNG: bad signature".into());
                        }
                        self.gathered.clear();
                        self.part = PngPart::Header;
                    }
                }
                PngPart::Header => {
                    if self.gather(&mut bytes, 8) {
                        let g = &self.gathered;
                        self.data_left = u64::from(u32::from_be_bytes([g[0], g[1], g[2], g[3]]));
                        self.chunk_type.copy_from_slice(&g[4..8]);
                        self.crc = crc32fast::Hasher::new();
                        self.crc.update(&self.chunk_type);
                        self.gathered.clear();
                        self.part = if self.data_left > 0 {
                            PngPart::Data
                        } else {
                            PngPart::Crc
                        };
                    }
                }
                PngPart::Data => {
                    let take = self.data_left.min(bytes.len() as u64) as usize;
                    self.crc.update(&bytes[..take]);
                    self.data_left -= take as u64;
                    bytes = &bytes[take..];
                    if self.data_left == 0 {
                        self.part = PngPart::Crc;
                    }
                }
                PngPart::Crc => {
                    if self.gather(&mut bytes, 4) {
                        let g = &self.gathered;
                        if u32::from_be_bytes([g[0], g[1], g[2], g[3]]) != self.crc.clone().finalize() {
                            let name = String::from_utf8_lossy(&self.chunk_type).into_owned();
                            self.error = Some(format!("PNG chunk {name} has a bad CRC"));
                        }
                        self.gathered.clear();
                        self.part = if &self.chunk_type == b"IEND" {
                            PngPart::End
                        } else {
                            PngPart::Header
                        };
                    }
                }
                PngPart::End => self.error = Some("PNG has data after its IEND chunk".into()),
            }
        }
    }

    fn finish(self) -> Result<(), String> {
        match (self.error, self.part) {
            (Some(error), _) => Err(error),
            (None, PngPart::End) => Ok(()),
            (None, _) => Err("PNG is cut short: no IEND chunk".into()),
        }
    }
}

/// A streaming walk over top-level ISO-BMFF boxes.
#[derive(Default)]
pub struct Bmff {
    offset: u64,
    /// Where the next box header starts.
    next_box: u64,
    header: Vec<u8>,
    boxes: u64,
    to_end: bool,
    error: Option<String>,
}

impl Bmff {
    fn update(&mut self, bytes: &[u8]) {
        let mut at = 0usize;
        while at < bytes.len() && self.error.is_none() && !self.to_end {
            let position = self.offset + at as u64;
            if position < self.next_box {
                let skip = (self.next_box - position).min((bytes.len() - at) as u64) as usize;
                at += skip;
                continue;
            }
            // Gather a header: 8 bytes, or 16 with a 64-bit size.
            let want = if self.header.len() >= 4 && self.header[..4] == [0, 0, 0, 1] {
                16
            } else {
                8
            };
            let take = (want - self.header.len()).min(bytes.len() - at);
            self.header.extend_from_slice(&bytes[at..at + take]);
            at += take;
            if self.header.len() == 8 && self.header[..4] == [0, 0, 0, 1] {
                continue;
            }
            if self.header.len() < want {
                continue;
            }
            let size32 = u32::from_be_bytes([self.header[0], self.header[1], self.header[2], self.header[3]]);
            let size = match size32 {
                0 => {
                    self.to_end = true;
                    u64::MAX
                }
                1 => u64::from_be_bytes(self.header[8..16].try_into().unwrap_or([0; 8])),
                n => u64::from(n),
            };
            if !self.to_end && size < self.header.len() as u64 {
                self.error = Some(format!("box at offset {} has an impossible size {size}", self.next_box));
            }
            self.boxes += 1;
            self.next_box = self.next_box.saturating_add(size);
            self.header.clear();
        }
        self.offset += bytes.len() as u64;
    }

    fn finish(self) -> Result<(), String> {
        if let Some(error) = self.error {
            return Err(error);
        }
        if self.boxes == 0 {
            return Err("not an ISO media file: no boxes".into());
        }
        if !self.to_end && (self.next_box != self.offset || !self.header.is_empty()) {
            return Err(format!(
                "media file is cut short or has trailing bytes: its boxes end at {} but the file has {} bytes",
                self.next_box, self.offset
            ));
        }
        Ok(())
    }
}

/// Checks a whole buffer (for tests and small files).
pub fn check(name: &str, bytes: &[u8]) -> Option<Result<(), String>> {
    let mut checker = checker_for(name)?;
    checker.update(bytes);
    Some(checker.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    const JPEG: &[u8] = include_bytes!("../../../../fixtures/IMG_0001.JPG");
    const HEIC: &[u8] = include_bytes!("../../../../fixtures/IMG_0002.HEIC");
    const PNG: &[u8] = include_bytes!("../../../../fixtures/IMG_0003.PNG");
    const MOV: &[u8] = include_bytes!("../../../../fixtures/IMG_0004.MOV");

    /// Feeds `bytes` in pieces of every size from 1 to 7, to cross every boundary.
    fn check_in_pieces(name: &str, bytes: &[u8]) -> Result<(), String> {
        let mut result = None;
        for piece in 1..8 {
            let mut checker = checker_for(name).unwrap();
            for chunk in bytes.chunks(piece) {
                checker.update(chunk);
            }
            let r = checker.finish();
            if let Some(previous) = &result {
                assert_eq!(previous, &r, "{name}: the verdict depends on how bytes arrive");
            }
            result = Some(r);
        }
        result.unwrap()
    }

    #[test]
    fn real_fixtures_pass() {
        for (name, bytes) in [("a.JPG", JPEG), ("a.HEIC", HEIC), ("a.PNG", PNG), ("a.MOV", MOV)] {
            assert_eq!(check_in_pieces(name, bytes), Ok(()), "{name}");
        }
    }

    #[test]
    fn truncated_and_damaged_files_fail() {
        for (name, bytes) in [("a.JPG", JPEG), ("a.HEIC", HEIC), ("a.PNG", PNG), ("a.MOV", MOV)] {
            let cut = &bytes[..bytes.len() - 10];
            assert!(check_in_pieces(name, cut).is_err(), "{name} cut short");
            let mut extra = bytes.to_vec();
            extra.extend_from_slice(b"junk");
            if name != "a.JPG" {
                assert!(check_in_pieces(name, &extra).is_err(), "{name} with trailing bytes");
            }
        }
        let mut png = PNG.to_vec();
        png[40] ^= 0x01;
        assert!(check_in_pieces("x.png", &png).unwrap_err().contains("CRC"));
        assert!(check("x.txt", b"anything").is_none());
    }
}

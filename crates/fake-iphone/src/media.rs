//! Real media files from the fixtures, each made distinct by a harmless edit the format
//! allows, so that a large library holds no two identical files and every file still decodes.

pub const JPEG: &[u8] = include_bytes!("../../../fixtures/IMG_0001.JPG");
pub const HEIC: &[u8] = include_bytes!("../../../fixtures/IMG_0002.HEIC");
pub const PNG: &[u8] = include_bytes!("../../../fixtures/IMG_0003.PNG");
pub const MOV: &[u8] = include_bytes!("../../../fixtures/IMG_0004.MOV");
pub const AAE: &[u8] = include_bytes!("../../../fixtures/IMG_0005.AAE");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Jpeg,
    Heic,
    Png,
    Mov,
    Aae,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Jpeg => "JPG",
            Format::Heic => "HEIC",
            Format::Png => "PNG",
            Format::Mov => "MOV",
            Format::Aae => "AAE",
        }
    }

    pub fn uti(self) -> &'static str {
        match self {
            Format::Jpeg => "public.jpeg",
            Format::Heic => "public.heic",
            Format::Png => "public.png",
            Format::Mov => "com.apple.quicktime-movie",
            Format::Aae => "com.apple.photos.adjustment",
        }
    }
}

/// The fixture of `format`, with `tag` written into a place decoders skip: a JPEG comment
/// segment, a PNG tEXt chunk, a top-level ISO-BMFF `free` box, an XML comment. `padding`
/// extra bytes make files of a chosen size.
pub fn unique(format: Format, tag: &str, padding: usize) -> Vec<u8> {
    let mut note = tag.as_bytes().to_vec();
    note.resize(note.len() + padding, b' ');
    match format {
        Format::Jpeg => {
            // SOI, then COM segments (each at most 65533 bytes of text), then the rest.
            let mut out = JPEG[..2].to_vec();
            for piece in note.chunks(65_533) {
                out.extend_from_slice(&[0xFF, 0xFE]);
                out.extend_from_slice(&((piece.len() + 2) as u16).to_be_bytes());
                out.extend_from_slice(piece);
            }
            out.extend_from_slice(&JPEG[2..]);
            out
        }
        Format::Png => {
            // Before the 12-byte IEND chunk.
            let iend = PNG.len() - 12;
            let mut chunk_data = b"Comment\0".to_vec();
            chunk_data.extend_from_slice(&note);
            let mut out = PNG[..iend].to_vec();
            out.extend_from_slice(&(chunk_data.len() as u32).to_be_bytes());
            let mut typed = b"tEXt".to_vec();
            typed.extend_from_slice(&chunk_data);
            out.extend_from_slice(&typed);
            out.extend_from_slice(&crc32(&typed).to_be_bytes());
            out.extend_from_slice(&PNG[iend..]);
            out
        }
        Format::Heic | Format::Mov => {
            let mut out = if format == Format::Heic {
                HEIC.to_vec()
            } else {
                MOV.to_vec()
            };
            out.extend_from_slice(&((note.len() + 8) as u32).to_be_bytes());
            out.extend_from_slice(b"free");
            out.extend_from_slice(&note);
            out
        }
        Format::Aae => {
            let text = std::str::from_utf8(AAE).unwrap_or_default();
            let (decl, rest) = text.split_once('\n').unwrap_or((text, ""));
            let comment = String::from_utf8_lossy(&note).replace("--", "- ");
            format!("{decl}\n<!-- {comment} -->\n{rest}").into_bytes()
        }
    }
}

/// CRC-32 (IEEE), as PNG chunks carry it.
pub fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc_matches_the_fixture_png() {
        // The IEND chunk's CRC is fixed: AE 42 60 82.
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
    }

    #[test]
    fn unique_files_keep_their_format_and_differ() {
        for format in [Format::Jpeg, Format::Heic, Format::Png, Format::Mov, Format::Aae] {
            let a = unique(format, "asset-a", 0);
            let b = unique(format, "asset-b", 100);
            assert_ne!(a, b);
            assert_eq!(b.len(), a.len() + 100);
        }
        let jpeg = unique(Format::Jpeg, "x", 70_000);
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        assert_eq!(&jpeg[jpeg.len() - 2..], &[0xFF, 0xD9]);
        assert!(unique(Format::Png, "x", 0).ends_with(&PNG[PNG.len() - 12..]));
    }
}

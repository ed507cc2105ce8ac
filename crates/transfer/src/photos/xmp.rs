//! XMP sidecars (`NAME.ext.xmp`): the tags osxphotos writes and Immich and digiKam read
//! (docs/photos.md §A7). The text is a pure function of the asset, so its SHA-256, which
//! the manifest keeps like any file's, tells whether the metadata changed on the phone.

use std::fmt::Write;

use crate::photos::library::Asset;
use crate::photos::meta::Metadata;

/// The keyword a burst's picked frame carries.
pub const BURST_PICK_KEYWORD: &str = "Burst Pick";

/// SHA-256 (hex) of a sidecar's text, as the manifest records it.
pub fn sha256_hex(text: &str) -> String {
    use sha2::{Digest, Sha256};
    crate::fs::hash::hex(&Sha256::digest(text.as_bytes()))
}

/// The sidecar's name beside `original` (a destination path).
pub fn sidecar_path(original: &str) -> String {
    format!("{original}.xmp")
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // XML 1.0 allows tab, newline and carriage return among the control characters.
            c if c.is_control() && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
}

/// A coordinate as XMP's GPSCoordinate: `DDD,MM.mmmmmmH`.
fn coordinate(value: f64, positive: char, negative: char) -> String {
    let hemisphere = if value < 0.0 { negative } else { positive };
    let value = value.abs();
    let degrees = value.trunc();
    let minutes = (value - degrees) * 60.0;
    format!("{},{minutes:.6}{hemisphere}", degrees as u32)
}

/// The capture time in the zone it was taken in, ISO 8601 with its offset.
fn date_created(created: i64, offset: Option<i64>) -> Option<String> {
    let offset = offset.filter(|o| o.unsigned_abs() <= 18 * 3600);
    let zone = time::UtcOffset::from_whole_seconds(offset.unwrap_or(0) as i32).ok()?;
    let t = time::OffsetDateTime::from_unix_timestamp(created).ok()?.to_offset(zone);
    let (h, m) = (zone.whole_hours(), zone.minutes_past_hour());
    let sign = if h < 0 || m < 0 { '-' } else { '+' };
    Some(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{sign}{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        h.unsigned_abs(),
        m.unsigned_abs()
    ))
}

/// The keywords a sidecar carries: Photos' keywords, then album names when asked, then
/// the burst pick mark.
pub fn keywords(asset: &Asset, album_keywords: bool) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut add = |k: &str| {
        if !out.iter().any(|have| have == k) {
            out.push(k.to_string());
        }
    };
    if let Some(meta) = &asset.meta {
        meta.keywords.iter().for_each(|k| add(k));
    }
    if album_keywords {
        asset.albums.iter().for_each(|a| add(a));
        if let Some(shared) = &asset.shared_album {
            add(shared);
        }
    }
    if asset
        .meta
        .as_ref()
        .and_then(|m| m.burst.as_ref())
        .is_some_and(|b| b.picked)
    {
        add(BURST_PICK_KEYWORD);
    }
    out
}

fn list(out: &mut String, tag: &str, kind: &str, items: &[String]) {
    if items.is_empty() {
        return;
    }
    let _ = writeln!(out, "   <{tag}>\n    <rdf:{kind}>");
    for item in items {
        let _ = writeln!(out, "     <rdf:li>{}</rdf:li>", escape(item));
    }
    let _ = writeln!(out, "    </rdf:{kind}>\n   </{tag}>");
}

fn alt(out: &mut String, tag: &str, text: &str) {
    let _ = writeln!(
        out,
        "   <{tag}>\n    <rdf:Alt>\n     <rdf:li xml:lang=\"x-default\">{}</rdf:li>\n    </rdf:Alt>\n   </{tag}>",
        escape(text)
    );
}

/// The sidecar of `asset`, whose original is saved with extension `extension`.
pub fn render(asset: &Asset, extension: &str, album_keywords: bool) -> String {
    let none = Metadata::default();
    let meta = asset.meta.as_deref().unwrap_or(&none);
    let mut out = String::with_capacity(1024);
    out.push_str("<?xpacket begin=\"\u{feff}\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n");
    out.push_str("<x:xmpmeta xmlns:x=\"adobe:ns:meta/\" x:xmptk=\"lifeboat\">\n");
    out.push_str(" <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n");
    out.push_str(
        "  <rdf:Description rdf:about=\"\"\n    xmlns:dc=\"http://purl.org/dc/elements/1.1/\"\n    \
         xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\"\n    xmlns:photoshop=\"http://ns.adobe.com/photoshop/1.0/\"\n    \
         xmlns:exif=\"http://ns.adobe.com/exif/1.0/\"\n    xmlns:Iptc4xmpExt=\"http://iptc.org/std/Iptc4xmpExt/2008-02-29/\"\n    \
         xmlns:digiKam=\"http://www.digikam.org/ns/1.0/\"",
    );
    let _ = write!(
        out,
        "\n    photoshop:SidecarForExtension=\"{}\"\n    xmp:Rating=\"{}\"",
        escape(extension),
        if meta.favorite { 5 } else { 0 }
    );
    if let Some(date) = asset.created.and_then(|c| date_created(c, asset.utc_offset)) {
        let _ = write!(out, "\n    photoshop:DateCreated=\"{date}\"");
    }
    if let Some((lat, lon)) = meta.location {
        let _ = write!(
            out,
            "\n    exif:GPSLatitude=\"{}\"\n    exif:GPSLongitude=\"{}\"",
            coordinate(lat, 'N', 'S'),
            coordinate(lon, 'E', 'W')
        );
    }
    out.push_str(">\n");
    if let Some(title) = &meta.title {
        alt(&mut out, "dc:title", title);
    }
    if let Some(caption) = &meta.caption {
        alt(&mut out, "dc:description", caption);
    }
    let keywords = keywords(asset, album_keywords);
    list(&mut out, "dc:subject", "Bag", &keywords);
    list(&mut out, "digiKam:TagsList", "Seq", &keywords);
    list(&mut out, "Iptc4xmpExt:PersonInImage", "Bag", &meta.people);
    out.push_str("  </rdf:Description>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_and_dates_in_xmp_forms() {
        assert_eq!(coordinate(48.5, 'N', 'S'), "48,30.000000N");
        assert_eq!(coordinate(-122.25, 'E', 'W'), "122,15.000000W");
        assert_eq!(date_created(0, Some(3600)).unwrap(), "1970-01-01T01:00:00+01:00");
        assert_eq!(date_created(0, Some(-16_200)).unwrap(), "1969-12-31T19:30:00-04:30");
        assert_eq!(date_created(0, None).unwrap(), "1970-01-01T00:00:00+00:00");
        assert_eq!(escape("a<b & \"c\"\u{1}"), "a&lt;b &amp; &quot;c&quot;");
    }
}

//! Writing the planned XMP sidecars, once the originals they describe are in place: each
//! written atomically and recorded in the manifest like any file (role `xmp`), so `verify`
//! and `SHA256SUMS` cover it and the next run can tell whether the phone's metadata
//! changed by comparing SHA-256 alone.

use std::collections::{BTreeSet, HashMap};
use std::io::{self, Write};
use std::path::Path;

use crate::fs::AtomicFile;
use crate::manifest::Entry;
use crate::photos::library::Role;
use crate::photos::plan::{ExportReport, PlannedSidecar};
use crate::photos::xmp;

/// The role sidecar rows carry in the manifest.
pub const ROLE: &str = "xmp";

/// Writes every planned sidecar beside its original, wherever that landed. Returns the
/// manifest rows of those written; folders written to are added to `touched`.
pub(crate) fn write(dest: &Path, report: &mut ExportReport, touched: &mut BTreeSet<String>) -> io::Result<Vec<Entry>> {
    let mut landed: HashMap<&str, Vec<String>> = HashMap::new();
    for copied in report.copied.iter().filter(|c| c.role == Role::Original) {
        let places = landed.entry(copied.device_path.as_str()).or_default();
        places.push(copied.dest_path.clone());
        places.extend(copied.links.iter().cloned());
    }
    let mut rows = Vec::new();
    let mut written = Vec::new();
    for planned in &report.sidecars_planned {
        let beside = if planned.beside.is_empty() {
            // The original was to be copied in this run: no copy, no sidecar.
            landed.get(planned.original.as_str()).cloned().unwrap_or_default()
        } else {
            planned.beside.clone()
        };
        for original in beside {
            // No sidecar beside a file that is not there (a link that could not be made).
            if !dest.join(&original).is_file() {
                continue;
            }
            let rel = xmp::sidecar_path(&original);
            write_one(&dest.join(&rel), &planned.text)?;
            rows.push(entry(planned, &rel));
            touched.insert(rel.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default());
            written.push(rel);
        }
    }
    report.sidecars_written.extend(written);
    Ok(rows)
}

fn write_one(path: &Path, text: &str) -> io::Result<()> {
    let mut file = AtomicFile::create(path)?;
    file.write_all(text.as_bytes())?;
    file.commit(None)
}

fn entry(planned: &PlannedSidecar, rel: &str) -> Entry {
    Entry {
        asset_id: planned.asset_id.clone(),
        role: ROLE.into(),
        // Not a device file: the sidecar of this one.
        device_path: format!("{}#{ROLE}", planned.original),
        size: planned.text.len() as u64,
        device_mtime_ns: 0,
        capture_date: None,
        sha256: xmp::sha256_hex(&planned.text),
        dest_path: rel.to_string(),
    }
}

//! What is wrong with a backup folder, in words, for when the device refuses to add to it
//! (error 205, docs/backup.md §1.7, §1.10): the checks the device makes, done here.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

/// The problems found in `folder`, empty when it looks whole.
pub fn problems(folder: &Path) -> Vec<String> {
    let mut found = Vec::new();
    if !folder.is_dir() {
        return vec![format!("{} does not exist", folder.display())];
    }
    for name in ["Info.plist", "Manifest.plist", "Manifest.db", "Status.plist"] {
        match std::fs::metadata(folder.join(name)) {
            Err(_) => found.push(format!("{name} is missing")),
            Ok(meta) if meta.len() == 0 => found.push(format!("{name} is empty")),
            Ok(_) => {}
        }
    }
    if let Ok(status) = plist::Value::from_file(folder.join("Status.plist")) {
        let state = status
            .as_dictionary()
            .and_then(|d| d.get("SnapshotState"))
            .and_then(plist::Value::as_string)
            .unwrap_or("unknown");
        if state != "finished" {
            found.push(format!("Status.plist says the backup stopped while {state}"));
        }
    }
    if folder.join("Snapshot").exists() {
        found.push("an interrupted backup left its Snapshot folder".into());
    }
    if let Some(missing) = missing_blobs(folder)
        && let Some(first) = missing.first()
    {
        found.push(format!(
            "{} files Manifest.db names are missing (the first: {first})",
            missing.len()
        ));
    }
    found
}

/// Blobs of regular files Manifest.db names that are not in the folder; `None` when the
/// database cannot be read (missing, encrypted).
fn missing_blobs(folder: &Path) -> Option<Vec<String>> {
    let db = Connection::open_with_flags(folder.join("Manifest.db"), OpenFlags::SQLITE_OPEN_READ_ONLY).ok()?;
    let mut query = db.prepare("SELECT fileID FROM Files WHERE flags = 1").ok()?;
    let ids = query.query_map([], |row| row.get::<_, String>(0)).ok()?;
    let mut missing = Vec::new();
    for id in ids.flatten() {
        let Some(prefix) = id.get(..2) else { continue };
        let blob = format!("{prefix}/{id}");
        if !folder.join(&blob).is_file() {
            missing.push(blob);
        }
    }
    Some(missing)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_is_missing() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("Manifest.plist"), b"").unwrap();
        let db = Connection::open(dir.path().join("Manifest.db")).unwrap();
        db.execute_batch(
            "CREATE TABLE Files (fileID TEXT PRIMARY KEY, domain TEXT, relativePath TEXT, flags INTEGER, file BLOB);
             INSERT INTO Files VALUES ('abcdef', 'HomeDomain', 'x', 1, NULL);",
        )
        .unwrap();
        drop(db);
        let found = problems(dir.path()).join("; ");
        assert!(found.contains("Manifest.plist is empty"), "{found}");
        assert!(found.contains("Status.plist is missing"), "{found}");
        assert!(found.contains("ab/abcdef"), "{found}");
    }
}

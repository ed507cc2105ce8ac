//! The device-driven backup (docs/backup.md §1.10, §5.4): passcode prompt, downloads of the
//! host's Status.plist, Manifest.plist and Manifest.db, the verification of an earlier
//! backup, free space, then the snapshot: `Snapshot/` uploads, Manifest, moves, removes,
//! and Status.plist uploading → moving → finished.

use std::collections::{BTreeSet, HashMap};

use mobilebackup2::request::Response;
use mobilebackup2::stream::{self, CODE_ERROR_REMOTE};
use mobilebackup2::{DlMessage, Move};
use plist::Value;

use super::crypto;
use super::files::{self, DeviceFile};
use super::host::{Host, HostError};
use super::manifest_db::{self, Row};
use super::plists;
use crate::config::{PasscodePrompt, PhoneConfig};

/// Files per `DLMessageUploadFiles` (BackupAgent2's default `BatchSize`).
const BATCH: usize = 128;
/// Moves or removes per message, so no message outgrows a frame.
const MOVES_PER_MESSAGE: usize = 1000;
const PRESENTED: &str = "com.apple.LocalAuthentication.ui.presented";
const DISMISSED: &str = "com.apple.LocalAuthentication.ui.dismissed";
const PROMPT_DELAY: std::time::Duration = std::time::Duration::from_millis(1000);

/// How a backup ends: the final `Response` (docs/backup.md §1.7), or a broken connection.
pub type Outcome = Result<Response, HostError>;

fn mb_error(code: u64, text: &str) -> Response {
    Response::error(code, format!("{text} (MBErrorDomain/{code})"))
}

/// Everything one backup needs to know of the phone.
pub struct Phone<'a> {
    pub config: &'a PhoneConfig,
    pub udid: &'a str,
    pub build_version: String,
    pub serial: String,
}

/// Whether the phone asks for its passcode before a backup: iOS 16.1 and later.
fn asks_passcode(ios: &str) -> bool {
    let mut parts = ios.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    (major, minor) >= (16, 1)
}

/// Runs one backup; the caller sends the returned `Response`.
pub fn backup(host: &mut Host, phone: &Phone, force_full: bool) -> Outcome {
    let backup = &phone.config.backup;
    let notifications = host.context().notifications();
    // docs/backup.md §1.7 (208): the prompt, then the wait for the passcode.
    if asks_passcode(&phone.config.ios_version) {
        // The prompt appears a moment after the request, as on a phone: a host that asked
        // to observe it just before the request (on another connection) hears it.
        notifications.wait_for_observer(PRESENTED, PROMPT_DELAY);
        notifications.post(PRESENTED);
        match backup.passcode {
            PasscodePrompt::EnterAfter(delay) => std::thread::sleep(delay),
            PasscodePrompt::Never => {
                std::thread::sleep(backup.passcode_timeout);
                notifications.post(DISMISSED);
                return Ok(mb_error(208, "Device locked"));
            }
        }
        notifications.post(DISMISSED);
    }
    let udid = phone.udid;
    let at = |name: &str| format!("{udid}/{name}");
    // Encrypted when the phone has a backup password (docs/backup-encryption.md §7).
    let keys = {
        let files = host.context().files();
        let mut guard = files.lock().unwrap_or_else(|p| p.into_inner());
        guard.keys()
    };

    // docs/backup.md §1.10: the host's copies decide between full and incremental.
    let mut previous: Option<HashMap<String, Row>> = None;
    let status = host.download(&[at("Status.plist")], 0.0)?;
    let status_ok = matches!(status.first(), Some((_, Ok(bytes))) if plists::status_usable(bytes));
    if !force_full && status_ok {
        let manifests = host.download(&[at("Manifest.plist"), at("Manifest.db")], 0.0)?;
        let bytes = |name: &str| {
            manifests
                .iter()
                .find(|(path, _)| path.ends_with(name))
                .and_then(|(_, r)| r.as_ref().ok())
        };
        if let (Some(plist), Some(db)) = (bytes("Manifest.plist"), bytes("Manifest.db"))
            && plists::manifest_usable(plist, udid, keys.as_ref().map(|k| k.keybag.as_slice()))
        {
            let db = match &keys {
                Some(keys) => keys.decrypt_manifest(db),
                None => Some(db.clone()),
            };
            previous = db.and_then(|db| manifest_db::read(&db).ok());
        }
    }
    if let Some(rows) = &previous
        && let Some(missing) = verify(host, udid, rows, keys.is_some())?
    {
        return Ok(mb_error(
            205,
            &format!("Manifest references files not in backup: {missing}"),
        ));
    }
    let full = previous.is_none();

    let now = {
        let files = host.context().files();
        let guard = files.lock().unwrap_or_else(|p| p.into_inner());
        guard.snapshot(&phone.config.media)
    };
    let unchanged = |f: &DeviceFile| {
        previous.as_ref().is_some_and(|rows| {
            rows.get(&f.file_id())
                .is_some_and(|r| r.flags == 1 && r.size == f.size && r.modified == f.modified)
        })
    };
    let upload: Vec<&DeviceFile> = now.iter().filter(|f| !unchanged(f)).collect();
    let current: BTreeSet<String> = now.iter().map(DeviceFile::file_id).collect();
    let deleted: Vec<String> = previous
        .iter()
        .flat_map(|rows| rows.values())
        // Only fileIDs as the phone makes them (40 hex digits) name a blob to remove.
        .filter(|r| r.flags == 1 && !current.contains(&r.file_id))
        .filter(|r| r.file_id.len() == 40 && r.file_id.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|r| r.file_id.clone())
        .collect();
    let upload_bytes: u64 = upload.iter().map(|f| f.size).sum();

    // docs/backup.md §1.10 step 1: free space for the upload and a margin, else 105.
    let free = host.request(&DlMessage::GetFreeDiskSpace)?;
    let free_bytes = free.payload.as_ref().and_then(Value::as_unsigned_integer);
    let needed = upload_bytes + backup.free_space_margin;
    if free.code == 0 && free_bytes.is_some_and(|f| f < needed) {
        if backup.purge_disk_space {
            let deficit = needed - free_bytes.unwrap_or(0);
            host.request(&DlMessage::PurgeDiskSpace {
                amount: deficit + (2 << 30),
            })?;
        }
        return Ok(mb_error(105, "Insufficient free disk space on drive to back up"));
    }

    // Step 3: the folders, then Status.plist "uploading".
    let uuid = uuid::Uuid::new_v4().to_string().to_uppercase();
    host.request(&DlMessage::CreateDirectory {
        path: udid.to_string(),
        progress: 0.0,
    })?;
    for prefix in 0..=255u8 {
        for path in [format!("{udid}/{prefix:02x}"), format!("{udid}/Snapshot/{prefix:02x}")] {
            host.request(&DlMessage::CreateDirectory { path, progress: 0.0 })?;
        }
    }
    upload_meta(
        host,
        "Status.plist",
        &at("Status.plist"),
        &plists::status(&uuid, full, "uploading"),
        1.0,
    )?;

    // Step 4: the files, in batches, into Snapshot/xx/<fileID>.
    if backup.hostile_paths {
        hostile_uploads(host, udid)?;
    }
    let mut sent = 0u64;
    for batch in upload.chunks(BATCH) {
        let total: u64 = batch.iter().map(|f| f.size).sum();
        let progress = 1.0 + 90.0 * sent as f64 / upload_bytes.max(1) as f64;
        host.send(&DlMessage::UploadFiles {
            progress,
            total_bytes: total,
        })?;
        for file in batch {
            let id = file.file_id();
            host.raw(&stream::upload_start(
                &file.device_name(),
                &at(&format!("Snapshot/{}/{id}", &id[..2])),
            ))?;
            match file.read() {
                Ok(bytes) => {
                    match &keys {
                        Some(keys) => {
                            let key = keys.file_key(&id, file.size, file.modified);
                            host.file_data(&crypto::encrypt(&key, &bytes))?;
                        }
                        None => host.file_data(&bytes)?,
                    }
                    host.raw(&stream::FILE_DONE)?;
                }
                Err(e) => host.raw(&stream::file_failed(CODE_ERROR_REMOTE, &e.to_string()))?,
            }
            sent += file.size;
        }
        if backup.error_block {
            error_block(host, udid)?;
        }
        host.raw(&stream::END)?;
        host.flush()?;
        host.status()?;
    }
    if upload.is_empty() && backup.error_block {
        host.send(&DlMessage::UploadFiles {
            progress: 90.0,
            total_bytes: 0,
        })?;
        error_block(host, udid)?;
        host.raw(&stream::END)?;
        host.flush()?;
        host.status()?;
    }

    // Step 5: the manifest, then "moving".
    let mut manifest_db = manifest_db::build(&now, &files::directories(&now), keys.as_ref())
        .map_err(|e| HostError::Frame(e.to_string()))?;
    let apps = crate::installation_proxy::apps();
    let encryption = keys.as_ref().map(|k| {
        manifest_db = crypto::encrypt(&k.manifest_key(), &manifest_db);
        (
            k.keybag.as_slice(),
            k.wrapped(crypto::MANIFEST_CLASS, &k.manifest_key()),
        )
    });
    let manifest_plist = plists::manifest(phone.config, &phone.build_version, &phone.serial, &apps, encryption);
    upload_meta(
        host,
        "Manifest.plist",
        &at("Snapshot/Manifest.plist"),
        &manifest_plist,
        92.0,
    )?;
    upload_meta(host, "Manifest.db", &at("Snapshot/Manifest.db"), &manifest_db, 94.0)?;
    upload_meta(
        host,
        "Status.plist",
        &at("Status.plist"),
        &plists::status(&uuid, full, "moving"),
        95.0,
    )?;

    // Step 6: moves into place, removes of what is gone and of Snapshot/.
    let mut moves: Vec<Move> = upload
        .iter()
        .map(|f| {
            let id = f.file_id();
            Move {
                from: at(&format!("Snapshot/{}/{id}", &id[..2])),
                to: at(&format!("{}/{id}", &id[..2])),
            }
        })
        .collect();
    for name in ["Manifest.plist", "Manifest.db"] {
        moves.push(Move {
            from: at(&format!("Snapshot/{name}")),
            to: at(name),
        });
    }
    for chunk in moves.chunks(MOVES_PER_MESSAGE) {
        host.request(&DlMessage::MoveItems {
            moves: chunk.to_vec(),
            progress: 96.0,
        })?;
    }
    let mut removes: Vec<String> = deleted.iter().map(|id| at(&format!("{}/{id}", &id[..2]))).collect();
    removes.push(at("Snapshot"));
    for chunk in removes.chunks(MOVES_PER_MESSAGE) {
        host.request(&DlMessage::RemoveItems {
            paths: chunk.to_vec(),
            progress: 98.0,
        })?;
    }

    // Step 7: "finished".
    upload_meta(
        host,
        "Status.plist",
        &at("Status.plist"),
        &plists::status(&uuid, full, "finished"),
        100.0,
    )?;
    Ok(Response::ok())
}

/// Lists the host folders the old manifest uses; the name of a file it lacks, or of one
/// whose size differs, if any (docs/backup.md §1.10, BackupAgent2's 205 check).
fn verify(
    host: &mut Host,
    udid: &str,
    rows: &HashMap<String, Row>,
    encrypted: bool,
) -> Result<Option<String>, HostError> {
    let mut by_prefix: HashMap<&str, Vec<&Row>> = HashMap::new();
    for row in rows.values().filter(|r| r.flags == 1) {
        if row.file_id.len() < 2 || !row.file_id.is_char_boundary(2) {
            return Ok(Some(row.file_id.clone()));
        }
        by_prefix.entry(&row.file_id[..2]).or_default().push(row);
    }
    let mut prefixes: Vec<&str> = by_prefix.keys().copied().collect();
    prefixes.sort_unstable();
    for prefix in prefixes {
        let listing = host.request(&DlMessage::ContentsOfDirectory {
            path: format!("{udid}/{prefix}"),
        })?;
        let entries = listing.payload.as_ref().and_then(Value::as_dictionary);
        for row in &by_prefix[prefix] {
            let size = entries
                .and_then(|d| d.get(&row.file_id))
                .and_then(Value::as_dictionary)
                .and_then(|e| e.get("DLFileSize"))
                .and_then(Value::as_unsigned_integer);
            // Encrypted blobs are padded: 16 · (⌊n/16⌋ + 1) (docs/backup-encryption.md §5).
            let want = if encrypted { 16 * (row.size / 16 + 1) } else { row.size };
            if size != Some(want) {
                return Ok(Some(format!("{}-{}", row.domain, row.path)));
            }
        }
    }
    Ok(None)
}

/// Uploads one metadata file (Status.plist, Manifest.*) in a batch of its own.
fn upload_meta(host: &mut Host, name: &str, path: &str, bytes: &[u8], progress: f64) -> Result<(), HostError> {
    host.send(&DlMessage::UploadFiles {
        progress,
        total_bytes: bytes.len() as u64,
    })?;
    host.raw(&stream::upload_start(name, path))?;
    for block in bytes.chunks(stream::BLOCK) {
        host.raw(&stream::data_header(block.len()))?;
        host.raw(block)?;
    }
    host.raw(&stream::FILE_DONE)?;
    host.raw(&stream::END)?;
    host.flush()?;
    host.status()?;
    Ok(())
}

/// The file iOS 17 cannot read for its own backup: a 0x0B block instead of data.
fn error_block(host: &mut Host, udid: &str) -> Result<(), HostError> {
    let id = files::file_id("HomeDomain", "Library/Backup/backup_manifest.db");
    host.raw(&stream::upload_start(
        "/var/mobile/Library/Backup/backup_manifest.db",
        &format!("{udid}/Snapshot/{}/{id}", &id[..2]),
    ))?;
    host.raw(&stream::file_failed(CODE_ERROR_REMOTE, "No such file or directory"))
}

/// Uploads to paths a host must refuse: `..`, absolute, odd characters, a long name.
fn hostile_uploads(host: &mut Host, udid: &str) -> Result<(), HostError> {
    let paths = [
        format!("{udid}/../escaped-upload"),
        format!("{udid}/Snapshot/../../escaped-too"),
        "/tmp/fake-iphone-absolute-upload".to_string(),
        format!("{udid}/Snapshot/ab/odd\u{1}name\u{7f}"),
        format!("{udid}/Snapshot/ab/{}", "L".repeat(300)),
    ];
    host.send(&DlMessage::UploadFiles {
        progress: 1.0,
        total_bytes: 5 * paths.len() as u64,
    })?;
    for path in &paths {
        host.raw(&stream::upload_start("HomeDomain-Library/hostile", path))?;
        host.raw(&stream::data_header(5))?;
        host.raw(b"evil\n")?;
        host.raw(&stream::FILE_DONE)?;
    }
    host.raw(&stream::END)?;
    host.flush()?;
    host.status()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_passcode_prompt_starts_with_16_1() {
        assert!(!super::asks_passcode("16.0"));
        assert!(super::asks_passcode("16.1"));
        assert!(super::asks_passcode("17.5"));
        assert!(!super::asks_passcode("15.8"));
    }
}

//! Photos the way people keep them (issue 18): iCloud originals under their real names,
//! XMP sidecars that exiftool reads back field by field for every iOS schema, a favorite
//! set later rewriting one sidecar without reading a photo, the album layout (verified),
//! shared albums in and out, and every burst frame with the pick marked.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use fake_iphone::library::{Asset, AssetKind, add_to_album, set_favorite};
use transfer::manifest::{Entry, Manifest};

const SCHEMAS: [&str; 4] = ["13.7", "15.8", "17.6", "18.1"];

fn export(phone: &Phone, dest: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["export-photos", dest.to_str().unwrap(), "--json"];
    args.extend_from_slice(extra);
    let out = phone.lifeboat(&args);
    assert_success(&out, "export-photos");
    serde_json::from_slice(&out.stdout).unwrap()
}

fn rows(dest: &Path) -> Vec<Entry> {
    Manifest::open(dest).unwrap().all().unwrap()
}

/// Each exported original's destination(s), by asset UUID.
fn originals(dest: &Path) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for row in rows(dest).into_iter().filter(|r| r.role == "original") {
        out.entry(row.asset_id).or_default().push(row.dest_path);
    }
    out
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap()
}

#[test]
fn icloud_originals_take_their_original_names() {
    let phone = Phone::paired(presets::kept("17.5"), |c| c);
    let dest = tempfile::tempdir().unwrap();
    export(&phone, dest.path(), &["--layout", "flat"]);
    let exported = originals(dest.path());
    let cpl: Vec<&Asset> = phone.assets.iter().filter(|a| a.kind == AssetKind::Cpl).collect();
    assert_eq!(cpl.len(), 3);
    for asset in cpl {
        let stored = file_name(&asset.original);
        assert_ne!(stored, asset.name, "make-library stores iCloud originals by UUID");
        let dests = &exported[&asset.uuid];
        assert_eq!(dests.len(), 1);
        assert_eq!(file_name(&dests[0]), asset.name, "{}", asset.original);
        assert_eq!(
            sha_file(&dest.path().join(&dests[0])),
            sha_file(&phone.media().join(&asset.original))
        );
    }
    for name in tree::exported(dest.path()) {
        assert!(!name.contains("0A11CE00"), "no UUID names: {name}");
    }
}

/// exiftool's reading of one value: a list for bags and sequences, else one item.
fn strings(value: Option<&serde_json::Value>) -> Vec<String> {
    match value {
        None => Vec::new(),
        Some(serde_json::Value::Array(items)) => items.iter().map(plain).collect(),
        Some(one) => vec![plain(one)],
    }
}

fn plain(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `YYYY:MM:DD HH:MM:SS+HH:MM` as exiftool prints photoshop:DateCreated.
fn exif_date(created: i64, offset: i64) -> String {
    let zone = time::UtcOffset::from_whole_seconds(offset as i32).unwrap();
    let t = time::OffsetDateTime::from_unix_timestamp(created)
        .unwrap()
        .to_offset(zone);
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}{sign}{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        offset.abs() / 3600,
        offset.abs() % 3600 / 60
    )
}

/// What the sidecar of `asset` must say, in the order the keywords are written.
fn expected_keywords(asset: &Asset) -> Vec<String> {
    let mut out = asset.meta.keywords.clone();
    out.sort();
    out.extend(asset.meta.albums.iter().cloned());
    out.extend(asset.meta.shared_album.iter().cloned());
    if asset.meta.burst.as_ref().is_some_and(|(_, picked)| *picked) {
        out.push("Burst Pick".into());
    }
    out
}

fn check_sidecars(phone: &Phone, dest: &Path, exiftool: &Path, ios: &str) {
    let exported = originals(dest);
    let sidecars: Vec<String> = rows(dest)
        .into_iter()
        .filter(|r| r.role == "xmp")
        .map(|r| r.dest_path)
        .collect();
    let present: Vec<&Asset> = phone
        .assets
        .iter()
        .filter(|a| a.kind != AssetKind::Trashed && a.kind != AssetKind::CloudOnly)
        .collect();
    assert_eq!(sidecars.len(), present.len(), "iOS {ios}: one sidecar per original");
    let out = std::process::Command::new(exiftool)
        .args(["-j", "-n", "-G1", "-struct"])
        .args(sidecars.iter().map(|s| dest.join(s)))
        .output()
        .unwrap();
    assert_success(&out, "exiftool");
    let read: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    let by_file: BTreeMap<String, &serde_json::Value> = read
        .iter()
        .map(|v| (v["SourceFile"].as_str().unwrap().to_string(), v))
        .collect();
    let (mut titled, mut placed, mut people, mut favorites) = (0, 0, 0, 0);
    for asset in present {
        let original = &exported[&asset.uuid][0];
        let sidecar = dest.join(format!("{original}.xmp"));
        let tags = by_file
            .get(sidecar.to_str().unwrap())
            .unwrap_or_else(|| panic!("iOS {ios}: no sidecar beside {original}"));
        let what = format!("iOS {ios}, {original}");
        let meta = &asset.meta;
        assert_eq!(
            strings(tags.get("XMP-dc:Title")),
            Vec::from_iter(meta.title.clone()),
            "{what}"
        );
        assert_eq!(
            strings(tags.get("XMP-dc:Description")),
            Vec::from_iter(meta.caption.clone()),
            "{what}"
        );
        let keywords = expected_keywords(asset);
        assert_eq!(strings(tags.get("XMP-dc:Subject")), keywords, "{what}");
        assert_eq!(strings(tags.get("XMP-digiKam:TagsList")), keywords, "{what}");
        assert_eq!(strings(tags.get("XMP-iptcExt:PersonInImage")), meta.people, "{what}");
        assert_eq!(tags["XMP-xmp:Rating"], if meta.favorite { 5 } else { 0 }, "{what}");
        assert_eq!(
            tags["XMP-photoshop:DateCreated"].as_str(),
            Some(exif_date(asset.created, meta.utc_offset).as_str()),
            "{what}"
        );
        match meta.location {
            Some((lat, lon)) => {
                let got = (
                    tags["XMP-exif:GPSLatitude"].as_f64().unwrap(),
                    tags["XMP-exif:GPSLongitude"].as_f64().unwrap(),
                );
                assert!(
                    (got.0 - lat).abs() < 1e-6 && (got.1 - lon).abs() < 1e-6,
                    "{what}: {got:?}"
                );
                placed += 1;
            }
            None => assert!(tags.get("XMP-exif:GPSLatitude").is_none(), "{what}"),
        }
        titled += usize::from(meta.title.is_some());
        people += usize::from(!meta.people.is_empty());
        favorites += usize::from(meta.favorite);
    }
    // The library exercises every field.
    assert!(titled > 0 && placed > 0 && people > 0 && favorites > 0);
}

#[test]
fn sidecars_read_back_in_exiftool_for_every_schema() {
    let Some(exiftool) = peer("exiftool") else { return };
    for ios in SCHEMAS {
        let phone = Phone::paired(presets::kept(ios), |c| c);
        let dest = tempfile::tempdir().unwrap();
        let summary = export(&phone, dest.path(), &["--sidecar", "xmp", "--album-keywords"]);
        assert!(!summary["sidecars_written"].as_array().unwrap().is_empty());
        check_sidecars(&phone, dest.path(), &exiftool, ios);
        // Sidecars are in the manifest: verify reads them like any file.
        assert_success(&phone.lifeboat(&["verify", dest.path().to_str().unwrap()]), "verify");
        assert_eq!(sha256sum_check(dest.path(), "sidecars"), rows(dest.path()).len());
    }
}

#[test]
fn a_favorite_set_later_rewrites_only_its_sidecar() {
    let ios = "17.6";
    let phone = Phone::paired(presets::kept(ios), |c| c);
    let dest = tempfile::tempdir().unwrap();
    export(&phone, dest.path(), &["--sidecar", "xmp"]);
    let before = tree::exported_hashes(dest.path());

    let asset = phone
        .assets
        .iter()
        .find(|a| a.kind == AssetKind::Photo && !a.meta.favorite)
        .unwrap();
    set_favorite(phone.media(), ios, &asset.uuid, true).unwrap();
    let database = database_bytes(&phone);
    let served = phone.fake.file_bytes_served(None);
    let summary = export(&phone, dest.path(), &["--sidecar", "xmp"]);
    assert_eq!(summary["copied"], 0);
    let original = &originals(dest.path())[&asset.uuid][0];
    assert_eq!(
        summary["sidecars_written"],
        serde_json::json!([format!("{original}.xmp")])
    );
    assert_eq!(
        phone.fake.file_bytes_served(None) - served,
        database,
        "only the changed Photos.sqlite was read, no photo"
    );
    let after = tree::exported_hashes(dest.path());
    let changed: Vec<&String> = after.keys().filter(|k| before.get(*k) != after.get(*k)).collect();
    assert_eq!(changed, vec![&format!("{original}.xmp")]);
    let xmp = std::fs::read_to_string(dest.path().join(format!("{original}.xmp"))).unwrap();
    assert!(xmp.contains("xmp:Rating=\"5\""), "{xmp}");

    // Nothing changed since: nothing is written.
    let summary = export(&phone, dest.path(), &["--sidecar", "xmp"]);
    assert_eq!(summary["sidecars_written"], serde_json::json!([]));
    assert_success(&phone.lifeboat(&["verify", dest.path().to_str().unwrap()]), "verify");
}

#[test]
fn the_album_layout_holds_each_album_and_verifies() {
    use std::os::unix::fs::MetadataExt;
    let phone = Phone::paired(presets::kept("18.1"), |c| c);
    let dest = tempfile::tempdir().unwrap();
    export(&phone, dest.path(), &["--layout", "album", "--sidecar", "xmp"]);
    let exported = tree::exported_hashes(dest.path());
    let mut in_two = 0;
    for asset in phone.assets.iter().filter(|a| a.kind != AssetKind::Trashed) {
        let sha = sha_file(&phone.media().join(&asset.original));
        let folders: Vec<String> = match (&asset.meta.shared_album, asset.meta.albums.is_empty()) {
            (Some(shared), _) => vec![format!("Shared/{shared}")],
            (None, true) => vec!["No Album".into()],
            (None, false) => asset.meta.albums.iter().map(|a| format!("Albums/{a}")).collect(),
        };
        let mut inodes = Vec::new();
        for folder in &folders {
            let (path, _) = exported
                .iter()
                .find(|(path, digest)| path.starts_with(&format!("{folder}/")) && **digest == sha)
                .unwrap_or_else(|| panic!("{} not in {folder}", asset.original));
            assert!(exported.contains_key(&format!("{path}.xmp")), "{path}: its sidecar");
            inodes.push(std::fs::metadata(dest.path().join(path)).unwrap().ino());
        }
        if folders.len() > 1 {
            in_two += 1;
            assert!(inodes.windows(2).all(|w| w[0] == w[1]), "one stored file, hard links");
        }
    }
    assert!(in_two > 0, "some photo is in two albums");
    assert_eq!(manifest_rows_have_files(dest.path(), "album layout"), exported.len());
    assert_success(&phone.lifeboat(&["verify", dest.path().to_str().unwrap()]), "verify");
    // A second run finds everything in place.
    let summary = export(&phone, dest.path(), &["--layout", "album", "--sidecar", "xmp"]);
    assert_eq!(summary["copied"], 0);
    assert_eq!(summary["sidecars_written"], serde_json::json!([]));
    assert_eq!(tree::exported_hashes(dest.path()), exported);
}

/// The size of the phone's Photos.sqlite files: what a run reads when only the database changed.
fn database_bytes(phone: &Phone) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|s| std::fs::metadata(phone.media().join(format!("PhotoData/Photos.sqlite{s}"))).ok())
        .map(|m| m.len())
        .sum()
}

#[test]
fn a_photo_added_to_an_album_later_is_linked_there() {
    use std::os::unix::fs::MetadataExt;
    let ios = "18.1";
    let phone = Phone::paired(presets::kept(ios), |c| c);
    let dest = tempfile::tempdir().unwrap();
    let args = ["--layout", "album", "--sidecar", "xmp"];
    export(&phone, dest.path(), &args);
    let asset = phone
        .assets
        .iter()
        .find(|a| a.kind == AssetKind::Photo && a.meta.albums.is_empty() && a.meta.shared_album.is_none())
        .unwrap();
    let before = format!("No Album/{}", asset.name);
    assert!(dest.path().join(&before).is_file(), "{before}");

    add_to_album(phone.media(), ios, &asset.uuid, "Album 1").unwrap();
    let database = database_bytes(&phone);
    let served = phone.fake.file_bytes_served(None);
    let summary = export(&phone, dest.path(), &args);
    assert_eq!(summary["copied"], 0);
    assert_eq!(
        phone.fake.file_bytes_served(None) - served,
        database,
        "no photo was read"
    );
    let after = format!("Albums/Album 1/{}", asset.name);
    let inode = |rel: &str| std::fs::metadata(dest.path().join(rel)).unwrap().ino();
    assert_eq!(inode(&after), inode(&before), "a hard link to the stored file");
    assert!(dest.path().join(format!("{after}.xmp")).is_file(), "its sidecar");
    assert_eq!(
        manifest_rows_have_files(dest.path(), "album added"),
        tree::exported(dest.path()).len()
    );
    assert_success(&phone.lifeboat(&["verify", dest.path().to_str().unwrap()]), "verify");
    let summary = export(&phone, dest.path(), &args);
    assert_eq!(summary["sidecars_written"], serde_json::json!([]));
}

#[test]
fn shared_albums_are_exported_unless_left_out() {
    let phone = Phone::paired(presets::kept("15.8"), |c| c);
    let shared: Vec<&Asset> = phone.assets.iter().filter(|a| a.kind == AssetKind::Shared).collect();
    assert_eq!(shared.len(), 3);
    let dest = tempfile::tempdir().unwrap();
    export(&phone, dest.path(), &[]);
    let exported = tree::exported_hashes(dest.path());
    for asset in &shared {
        let album = asset.meta.shared_album.as_deref().unwrap();
        let path = format!("Shared/{album}/{}", asset.name);
        assert_eq!(
            exported.get(&path),
            Some(&sha_file(&phone.media().join(&asset.original))),
            "{path}"
        );
    }
    let mut got: Vec<String> = exported.into_values().collect();
    got.sort();
    assert_eq!(got, phone.expected_export(), "everything, shared photos included");

    let without = tempfile::tempdir().unwrap();
    export(&phone, without.path(), &["--no-shared"]);
    assert!(!without.path().join("Shared").exists());
    assert_eq!(
        tree::exported(without.path()).len() + shared.len(),
        tree::exported(dest.path()).len()
    );
}

#[test]
fn every_burst_frame_is_kept_and_the_pick_marked() {
    let phone = Phone::paired(presets::kept("17.6"), |c| c);
    let dest = tempfile::tempdir().unwrap();
    export(&phone, dest.path(), &["--sidecar", "xmp"]);
    let exported = originals(dest.path());
    let frames: Vec<&Asset> = phone.assets.iter().filter(|a| a.kind == AssetKind::Burst).collect();
    assert_eq!(frames.len(), 3);
    for frame in frames {
        let original = &exported[&frame.uuid][0];
        let xmp = std::fs::read_to_string(dest.path().join(format!("{original}.xmp"))).unwrap();
        let picked = frame.meta.burst.as_ref().unwrap().1;
        assert_eq!(xmp.contains("<rdf:li>Burst Pick</rdf:li>"), picked, "{original}");
    }
}

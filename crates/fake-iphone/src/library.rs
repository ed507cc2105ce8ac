//! `make-library`: a media folder as a real phone's AFC root shows it (docs/photos.md §A):
//! `DCIM/1xxAPPLE/IMG_nnnn.*`, Live Photo pairs, `.AAE` sidecars, edited renders under
//! `PhotoData/Mutations`, iCloud originals under `PhotoData/CPLAssets`, and a
//! `PhotoData/Photos.sqlite` in WAL mode whose schema matches the iOS version asked for.
//! The last assets are committed only to the `-wal` file, as on a phone whose Photos app
//! is running, so a tool that copies the database without its WAL misses them.
//!
//! Every asset carries metadata in the tables and columns each iOS version keeps it in
//! (title, caption, keywords, people, favorite, GPS, time zone, albums, bursts), as
//! [`Meta`] records for tests to compare an export's sidecars against.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{Connection, params};

use crate::media::{self, Format};

/// Core Data dates count seconds from 2001-01-01.
pub const CORE_DATA_EPOCH: i64 = 978_307_200;

#[derive(Debug, Clone, Default)]
pub struct LibrarySpec {
    pub ios: String,
    pub photos: usize,
    pub videos: usize,
    pub live: usize,
    pub edited: usize,
    /// Originals only in iCloud ("Optimize iPhone Storage"): in the database, not on disk.
    pub cloud_only: usize,
    pub trashed: usize,
    pub hidden: usize,
    pub albums: usize,
    /// Originals that came through iCloud Photos, under `PhotoData/CPLAssets`.
    pub cpl: usize,
    /// Photos in iCloud Shared Albums, under `PhotoData/PhotoCloudSharingData`.
    pub shared: usize,
    /// Bursts of three frames each, the middle one picked.
    pub bursts: usize,
    /// JPEG photos that were cut short on the phone itself (they copy "correctly").
    pub truncated: usize,
    /// Extra bytes per photo, to make files of a realistic size.
    pub photo_padding: usize,
    pub video_padding: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Photo,
    Screenshot,
    Video,
    Live,
    Edited,
    CloudOnly,
    Trashed,
    Hidden,
    Cpl,
    /// A JPEG missing its last bytes (and its EOI marker) on the phone.
    Truncated,
    /// A photo in an iCloud Shared Album.
    Shared,
    /// A frame of a burst.
    Burst,
}

/// The metadata an asset carries in Photos.sqlite.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub title: Option<String>,
    pub caption: Option<String>,
    pub keywords: Vec<String>,
    pub people: Vec<String>,
    pub favorite: bool,
    pub location: Option<(f64, f64)>,
    /// Seconds east of UTC where it was taken.
    pub utc_offset: i64,
    /// Titles of the (non-shared) albums it is in.
    pub albums: Vec<String>,
    pub shared_album: Option<String>,
    /// The burst's UUID and whether this frame is the picked one.
    pub burst: Option<(String, bool)>,
}

/// What the generator made, for tests to check an export against.
#[derive(Debug, Clone)]
pub struct Asset {
    pub uuid: String,
    pub kind: AssetKind,
    /// Capture time, Unix seconds.
    pub created: i64,
    /// Paths relative to the media root of every file of this asset that is on the phone
    /// (original first, then Live video, sidecar, render).
    pub files: Vec<String>,
    /// The original's path, even when it is not on the phone.
    pub original: String,
    /// The original's size in bytes (what it would be, when only iCloud has it).
    pub size: u64,
    /// The original's file name as Photos keeps it (`ZORIGINALFILENAME`): for iCloud
    /// originals it differs from the UUID name they are stored under.
    pub name: String,
    pub meta: Meta,
}

/// Table and column names for an iOS version, as iLEAPP and osxphotos document them.
#[derive(Debug, Clone)]
pub struct Schema {
    pub asset_table: &'static str,
    pub asset_ent: i64,
    pub album_ent: i64,
    pub importer_column: &'static str,
    pub fingerprint_column: &'static str,
    /// The Keyword entity: keywords join through `Z_1KEYWORDS.Z_<this>KEYWORDS`.
    pub keyword_ent: i64,
    /// `ZDETECTEDFACE`'s keys to the asset and the person (`…FORFACE` from iOS 17).
    pub face_asset_column: &'static str,
    pub face_person_column: &'static str,
}

impl Schema {
    pub fn for_ios(version: &str) -> Schema {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(17), parts.next().unwrap_or(0));
        let album_ent = match (major, minor) {
            (..=11, _) => 20,
            (12, _) => 23,
            (13 | 14, _) => 26,
            (15, _) => 27,
            (16, _) | (17, ..=5) => 28,
            (17, _) => 29,
            (18..=25, _) => 30,
            _ => 33,
        };
        Schema {
            asset_table: if major <= 13 { "ZGENERICASSET" } else { "ZASSET" },
            asset_ent: match major {
                ..=11 => 27,
                12 => 30,
                13 => 34,
                _ => 3,
            },
            album_ent,
            importer_column: if major <= 14 {
                "ZCREATORBUNDLEID"
            } else {
                "ZIMPORTEDBYBUNDLEIDENTIFIER"
            },
            fingerprint_column: if major >= 18 {
                "ZORIGINALSTABLEHASH"
            } else {
                "ZMASTERFINGERPRINT"
            },
            // Z_36/37/38/40KEYWORDS by Photos model (docs/photos.md §A7); later versions
            // (inference) take higher numbers.
            keyword_ent: match major {
                ..=13 => 37,
                14 => 36,
                15 => 38,
                16 => 40,
                17 => 42,
                18..=25 => 44,
                _ => 46,
            },
            face_asset_column: if major >= 17 { "ZASSETFORFACE" } else { "ZASSET" },
            face_person_column: if major >= 17 { "ZPERSONFORFACE" } else { "ZPERSON" },
        }
    }

    pub fn join_table(&self) -> String {
        format!("Z_{}ASSETS", self.album_ent)
    }

    pub fn join_album_column(&self) -> String {
        format!("Z_{}ALBUMS", self.album_ent)
    }

    pub fn join_asset_column(&self) -> String {
        format!("Z_{}ASSETS", self.asset_ent)
    }

    pub fn keyword_column(&self) -> String {
        format!("Z_{}KEYWORDS", self.keyword_ent)
    }
}

/// Photos' own entity numbers for the tables beside the asset and album ones.
const OTHER_ENTITIES: [(i64, &str); 4] = [
    (1, "AdditionalAssetAttributes"),
    (2, "InternalResource"),
    (4, "DetectedFace"),
    (5, "Person"),
];

/// The metadata of the `n`th asset: a spread of every field, some empty, some awkward
/// (characters XML escapes, places west and south).
fn meta_for(n: usize) -> Meta {
    let offsets = [0, 3600, -18_000, 19_800];
    Meta {
        title: (n % 5 == 1).then(|| format!("Title {n}")),
        caption: (n % 3 == 2).then(|| format!("Caption {n}: <Ada> & \"Charles\" été")),
        keywords: if n % 4 == 1 {
            vec!["Beach".into(), format!("Trip {}", n % 3)]
        } else {
            Vec::new()
        },
        people: if n % 6 == 3 {
            vec!["Ada Lovelace".into(), "Charles Babbage".into()]
        } else {
            Vec::new()
        },
        favorite: n.is_multiple_of(4),
        location: n.is_multiple_of(2).then(|| {
            let lat = 48.858_4 - (n % 7) as f64 * 15.5;
            let lon = 2.294_5 - (n % 5) as f64 * 45.25;
            (lat, lon)
        }),
        utc_offset: offsets[n % offsets.len()],
        ..Meta::default()
    }
}

struct Builder {
    root: PathBuf,
    counter: u32,
    shared_count: usize,
    burst_count: usize,
    assets: Vec<Asset>,
    spec: LibrarySpec,
}

fn uuid_for(n: usize) -> String {
    let v = 0x0A11_CE00_0000_0000_0000_0000_0000_0000u128 + n as u128;
    uuid::Uuid::from_u128(v).to_string().to_uppercase()
}

impl Builder {
    fn write(&self, relative: &str, bytes: &[u8]) -> Result<()> {
        let path = self.root.join(relative);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    }

    /// The next camera-roll name: 1,000 numbers per `1xxAPPLE` folder.
    fn next_dcim(&mut self) -> (String, String) {
        self.counter += 1;
        let folder = format!("DCIM/{}APPLE", 100 + self.counter / 1000);
        (folder, format!("IMG_{:04}", self.counter % 10_000))
    }

    fn add(&mut self, kind: AssetKind) -> Result<()> {
        let n = self.assets.len();
        let uuid = uuid_for(n);
        // About one asset every 7 hours from 2019 on, so dates span years and months.
        let created = 1_546_300_800 + (n as i64) * 25_200;
        let tag = format!("lifeboat-fake {uuid} {created}");
        let (pad_photo, pad_video) = (self.spec.photo_padding, self.spec.video_padding);
        let mut files = Vec::new();
        let original;
        let mut name = None;
        let mut meta = meta_for(n);
        match kind {
            AssetKind::Cpl => {
                let folder = format!("PhotoData/CPLAssets/group{}", 1 + n % 16);
                original = format!("{folder}/{uuid}.JPG");
                // Taken on another device: its own camera's name, not this phone's.
                name = Some(format!("IMG_{:04}.JPG", 7000 + n % 3000));
                self.write(&original, &media::unique(Format::Jpeg, &tag, pad_photo))?;
                files.push(original.clone());
            }
            AssetKind::Shared => {
                let album = self.shared_count % 2;
                let folder = format!(
                    "PhotoData/PhotoCloudSharingData/1234567890/{}/100CLOUD",
                    uuid_for(2_000_000 + album)
                );
                original = format!("{folder}/IMG_{:04}.JPG", 1 + self.shared_count);
                self.shared_count += 1;
                meta.shared_album = Some(format!("Shared Album {}", album + 1));
                self.write(&original, &media::unique(Format::Jpeg, &tag, pad_photo))?;
                files.push(original.clone());
            }
            _ => {
                let (folder, base) = self.next_dcim();
                let format = match kind {
                    AssetKind::Video => Format::Mov,
                    AssetKind::Screenshot => Format::Png,
                    AssetKind::Photo if n % 3 == 1 => Format::Jpeg,
                    AssetKind::Truncated => Format::Jpeg,
                    _ => Format::Heic,
                };
                original = format!("{folder}/{base}.{}", format.extension());
                let padding = if format == Format::Mov { pad_video } else { pad_photo };
                if kind != AssetKind::CloudOnly {
                    let mut bytes = media::unique(format, &tag, padding);
                    if kind == AssetKind::Truncated {
                        bytes.truncate(bytes.len() * 3 / 4);
                    }
                    self.write(&original, &bytes)?;
                    files.push(original.clone());
                }
                if kind == AssetKind::Burst {
                    let frame = self.burst_count;
                    self.burst_count += 1;
                    meta.burst = Some((uuid_for(3_000_000 + frame / 3), frame % 3 == 1));
                }
                if kind == AssetKind::Live {
                    let video = format!("{folder}/{base}.MOV");
                    self.write(&video, &media::unique(Format::Mov, &tag, pad_video / 8))?;
                    files.push(video);
                }
                if kind == AssetKind::Edited {
                    let sidecar = format!("{folder}/{base}.AAE");
                    self.write(&sidecar, &media::unique(Format::Aae, &tag, 0))?;
                    files.push(sidecar);
                    let adjustments = format!("PhotoData/Mutations/{folder}/{base}/Adjustments");
                    let render = format!("{adjustments}/FullSizeRender.heic");
                    self.write(
                        &render,
                        &media::unique(Format::Heic, &format!("{tag} render"), pad_photo),
                    )?;
                    self.write(&format!("{adjustments}/Adjustments.plist"), media::AAE)?;
                    files.push(render);
                }
            }
        }
        let size = match kind {
            AssetKind::CloudOnly => media::unique(Format::Heic, &tag, pad_photo).len() as u64,
            _ => fs::metadata(self.root.join(&original))?.len(),
        };
        let name = name.unwrap_or_else(|| original.rsplit('/').next().unwrap_or(&original).to_string());
        self.assets.push(Asset {
            uuid,
            kind,
            created,
            files,
            original,
            size,
            name,
            meta,
        });
        Ok(())
    }
}

/// Makes the library under `out` and returns what it holds.
pub fn make_library(out: &Path, spec: &LibrarySpec) -> Result<Vec<Asset>> {
    fs::create_dir_all(out)?;
    for folder in [
        "DCIM",
        "Downloads",
        "Books",
        "PhotoData",
        "iTunes_Control",
        "Recordings",
    ] {
        fs::create_dir_all(out.join(folder))?;
    }
    let mut builder = Builder {
        root: out.to_path_buf(),
        counter: 0,
        shared_count: 0,
        burst_count: 0,
        assets: Vec::new(),
        spec: spec.clone(),
    };
    let groups = [
        (AssetKind::Photo, spec.photos),
        (AssetKind::Video, spec.videos),
        (AssetKind::Live, spec.live),
        (AssetKind::Edited, spec.edited),
        (AssetKind::Cpl, spec.cpl),
        (AssetKind::CloudOnly, spec.cloud_only),
        (AssetKind::Trashed, spec.trashed),
        (AssetKind::Hidden, spec.hidden),
        (AssetKind::Truncated, spec.truncated),
        (AssetKind::Shared, spec.shared),
        (AssetKind::Burst, spec.bursts * 3),
    ];
    for (kind, count) in groups {
        for i in 0..count {
            // Every fifth plain photo is a screenshot.
            let kind = if kind == AssetKind::Photo && i % 5 == 4 {
                AssetKind::Screenshot
            } else {
                kind
            };
            builder.add(kind)?;
        }
    }
    let mut assets = builder.assets;
    place_in_albums(&mut assets, spec.albums);
    write_database(
        &out.join("PhotoData/Photos.sqlite"),
        &Schema::for_ios(&spec.ios),
        &assets,
        spec.albums,
    )?;
    Ok(assets)
}

fn album_title(album: usize) -> String {
    format!("Album {}", album + 1)
}

/// Every third asset (not trashed, not shared) is in an album, every ninth in a second one.
fn place_in_albums(assets: &mut [Asset], albums: usize) {
    if albums == 0 {
        return;
    }
    for (index, asset) in assets.iter_mut().enumerate() {
        if !index.is_multiple_of(3) || asset.kind == AssetKind::Trashed || asset.kind == AssetKind::Shared {
            continue;
        }
        let first = (index / 3) % albums;
        asset.meta.albums.push(album_title(first));
        if albums > 1 && index.is_multiple_of(9) {
            asset.meta.albums.push(album_title((first + 1) % albums));
        }
        asset.meta.albums.sort();
    }
}

/// `ZGENERICALBUM.ZKIND` of an iCloud Shared Album (docs/photos.md §A4).
const SHARED_ALBUM_KIND: i64 = 1505;

/// Keyword and person rows, by first appearance.
#[derive(Default)]
struct Names {
    keywords: Vec<String>,
    people: Vec<String>,
}

impl Names {
    fn keyword(&mut self, title: &str) -> i64 {
        position_or_push(&mut self.keywords, title)
    }

    fn person(&mut self, name: &str) -> i64 {
        position_or_push(&mut self.people, name)
    }
}

/// The 1-based row key of `item` in `list`, added when new.
fn position_or_push(list: &mut Vec<String>, item: &str) -> i64 {
    let at = list.iter().position(|k| k == item).unwrap_or_else(|| {
        list.push(item.to_string());
        list.len() - 1
    });
    at as i64 + 1
}

/// What inserting an asset needs to know beside the asset.
struct Tables<'a> {
    schema: &'a Schema,
    /// Album titles with their kind, by row key - 1.
    titles: &'a [(String, i64)],
    names: &'a Names,
}

fn write_database(path: &Path, schema: &Schema, assets: &[Asset], albums: usize) -> Result<()> {
    for suffix in ["", "-wal", "-shm"] {
        let _ = fs::remove_file(format!("{}{suffix}", path.display()));
    }
    let mut db = Connection::open(path)?;
    db.pragma_update(None, "journal_mode", "WAL")?;
    db.pragma_update(None, "wal_autocheckpoint", 0)?;
    // Leave the last transaction in the WAL when this connection closes.
    db.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true)?;
    let t = schema.asset_table;
    let importer = schema.importer_column;
    let fingerprint = schema.fingerprint_column;
    let (join, join_album, join_asset) = (
        schema.join_table(),
        schema.join_album_column(),
        schema.join_asset_column(),
    );
    let keyword = schema.keyword_column();
    let (face_asset, face_person) = (schema.face_asset_column, schema.face_person_column);
    db.execute_batch(&format!(
        "CREATE TABLE Z_PRIMARYKEY (Z_ENT INTEGER PRIMARY KEY, Z_NAME VARCHAR, Z_SUPER INTEGER, Z_MAX INTEGER);
         CREATE TABLE Z_METADATA (Z_VERSION INTEGER PRIMARY KEY, Z_UUID VARCHAR(255), Z_PLIST BLOB);
         CREATE TABLE {t} (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZUUID VARCHAR,
           ZDIRECTORY VARCHAR, ZFILENAME VARCHAR, ZDATECREATED TIMESTAMP, ZADDEDDATE TIMESTAMP,
           ZMODIFICATIONDATE TIMESTAMP, ZKIND INTEGER, ZKINDSUBTYPE INTEGER, ZPLAYBACKSTYLE INTEGER,
           ZUNIFORMTYPEIDENTIFIER VARCHAR, ZWIDTH INTEGER, ZHEIGHT INTEGER, ZDURATION FLOAT,
           ZFAVORITE INTEGER, ZHIDDEN INTEGER, ZTRASHEDSTATE INTEGER, ZTRASHEDDATE TIMESTAMP,
           ZVISIBILITYSTATE INTEGER, ZCLOUDLOCALSTATE INTEGER, ZSAVEDASSETTYPE INTEGER,
           ZBUNDLESCOPE INTEGER, ZCLOUDPLACEHOLDERKIND INTEGER, ZHASADJUSTMENTS INTEGER,
           ZAVALANCHEUUID VARCHAR, ZAVALANCHEPICKTYPE INTEGER, ZDEPTHTYPE INTEGER,
           ZLATITUDE FLOAT, ZLONGITUDE FLOAT, ZADDITIONALATTRIBUTES INTEGER);
         CREATE TABLE ZADDITIONALASSETATTRIBUTES (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZASSET INTEGER, ZASSETDESCRIPTION INTEGER, ZORIGINALFILENAME VARCHAR, ZORIGINALFILESIZE INTEGER,
           ZTIMEZONENAME VARCHAR, ZTIMEZONEOFFSET INTEGER, ZEXIFTIMESTAMPSTRING VARCHAR, ZTITLE VARCHAR,
           {importer} VARCHAR, {fingerprint} VARCHAR);
         CREATE TABLE ZASSETDESCRIPTION (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZASSETATTRIBUTES INTEGER, ZLONGDESCRIPTION VARCHAR);
         CREATE TABLE ZKEYWORD (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZTITLE VARCHAR,
           ZUUID VARCHAR);
         CREATE TABLE Z_1KEYWORDS (Z_1ASSETATTRIBUTES INTEGER, {keyword} INTEGER,
           PRIMARY KEY (Z_1ASSETATTRIBUTES, {keyword}));
         CREATE TABLE ZPERSON (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZPERSONUUID VARCHAR,
           ZFULLNAME VARCHAR, ZDISPLAYNAME VARCHAR, ZFACECOUNT INTEGER);
         CREATE TABLE ZDETECTEDFACE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           {face_asset} INTEGER, {face_person} INTEGER, ZCENTERX FLOAT, ZCENTERY FLOAT, ZSIZE FLOAT);
         CREATE TABLE ZINTERNALRESOURCE (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER,
           ZASSET INTEGER, ZRESOURCETYPE INTEGER, ZDATASTORESUBTYPE INTEGER, ZLOCALAVAILABILITY INTEGER,
           ZREMOTEAVAILABILITY INTEGER, ZCLOUDLOCALSTATE INTEGER, ZDATALENGTH INTEGER,
           ZFINGERPRINT VARCHAR, ZSTABLEHASH VARCHAR, ZTRASHEDSTATE INTEGER);
         CREATE TABLE ZGENERICALBUM (Z_PK INTEGER PRIMARY KEY, Z_ENT INTEGER, Z_OPT INTEGER, ZKIND INTEGER,
           ZTITLE VARCHAR, ZUUID VARCHAR, ZTRASHEDSTATE INTEGER, ZCLOUDLOCALSTATE INTEGER);
         CREATE TABLE {join} ({join_album} INTEGER, {join_asset} INTEGER, Z_FOK_{join_asset} INTEGER,
           PRIMARY KEY ({join_album}, {join_asset}));
         CREATE INDEX Z_ASSET_UUID ON {t} (ZUUID);"
    ))?;
    let ents = [
        (schema.asset_ent, "Asset"),
        (schema.album_ent, "GenericAlbum"),
        (schema.keyword_ent, "Keyword"),
    ];
    for (ent, name) in ents.into_iter().chain(OTHER_ENTITIES) {
        db.execute(
            "INSERT OR IGNORE INTO Z_PRIMARYKEY (Z_ENT, Z_NAME, Z_SUPER, Z_MAX) VALUES (?1, ?2, 0, 0)",
            params![ent, name],
        )?;
    }
    let mut titles: Vec<(String, i64)> = (0..albums).map(|a| (album_title(a), 2)).collect();
    for asset in assets {
        if let Some(shared) = &asset.meta.shared_album
            && !titles.iter().any(|(t, _)| t == shared)
        {
            titles.push((shared.clone(), SHARED_ALBUM_KIND));
        }
    }
    for (a, (title, kind)) in titles.iter().enumerate() {
        db.execute(
            "INSERT INTO ZGENERICALBUM (Z_PK, Z_ENT, Z_OPT, ZKIND, ZTITLE, ZUUID, ZTRASHEDSTATE, ZCLOUDLOCALSTATE) VALUES (?1, ?2, 1, ?3, ?4, ?5, 0, 0)",
            params![a as i64 + 1, schema.album_ent, kind, title, uuid_for(1_000_000 + a)],
        )?;
    }
    let mut names = Names::default();
    for asset in assets {
        for k in &asset.meta.keywords {
            names.keyword(k);
        }
        for p in &asset.meta.people {
            names.person(p);
        }
    }
    for (pk, title) in names.keywords.iter().enumerate() {
        db.execute(
            "INSERT INTO ZKEYWORD (Z_PK, Z_ENT, Z_OPT, ZTITLE, ZUUID) VALUES (?1, ?2, 1, ?3, ?4)",
            params![pk as i64 + 1, schema.keyword_ent, title, uuid_for(4_000_000 + pk)],
        )?;
    }
    for (pk, name) in names.people.iter().enumerate() {
        let display = name.split(' ').next().unwrap_or(name);
        db.execute(
            "INSERT INTO ZPERSON (Z_PK, Z_ENT, Z_OPT, ZPERSONUUID, ZFULLNAME, ZDISPLAYNAME, ZFACECOUNT) VALUES (?1, 5, 1, ?2, ?3, ?4, 1)",
            params![pk as i64 + 1, uuid_for(5_000_000 + pk), name, display],
        )?;
    }
    let context = Tables {
        schema,
        titles: &titles,
        names: &names,
    };
    // Most assets are checkpointed into the main file; the newest tenth stays in the WAL.
    let split = assets.len() - assets.len() / 10;
    for (batch_index, batch) in [&assets[..split], &assets[split..]].into_iter().enumerate() {
        let tx = db.transaction()?;
        let offset = if batch_index == 0 { 0 } else { split };
        for (i, asset) in batch.iter().enumerate() {
            insert_asset(&tx, &context, offset + i, asset)?;
        }
        tx.commit()?;
        if batch_index == 0 {
            tx_checkpoint(&db)?;
        }
    }
    Ok(())
}

fn tx_checkpoint(db: &Connection) -> Result<()> {
    db.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(())
}

fn insert_asset(db: &Connection, context: &Tables, index: usize, asset: &Asset) -> Result<()> {
    let schema = context.schema;
    let pk = index as i64 + 1;
    let (directory, filename) = asset.original.rsplit_once('/').unwrap_or(("", &asset.original));
    let ext = filename.rsplit('.').next().unwrap_or("");
    let format = match ext {
        "MOV" => Format::Mov,
        "PNG" => Format::Png,
        "JPG" => Format::Jpeg,
        _ => Format::Heic,
    };
    let (kind, subtype, playback) = match asset.kind {
        AssetKind::Video => (1, 0, 4),
        AssetKind::Live => (0, 2, 3),
        AssetKind::Screenshot => (0, 10, 1),
        _ => (0, 0, 1),
    };
    let meta = &asset.meta;
    let date = (asset.created - CORE_DATA_EPOCH) as f64;
    let trashed = i64::from(asset.kind == AssetKind::Trashed);
    let hidden = i64::from(asset.kind == AssetKind::Hidden);
    let cloud = asset.kind == AssetKind::CloudOnly;
    // 3 this phone's library, 6 from the cloud library, 2 a shared album's (docs/photos.md §A4).
    let saved_type = match asset.kind {
        AssetKind::Cpl => 6,
        AssetKind::Shared => 2,
        _ => 3,
    };
    let (burst, pick) = match &meta.burst {
        Some((id, true)) => (Some(id.as_str()), 16),
        Some((id, false)) => (Some(id.as_str()), 2),
        None => (None, 0),
    };
    // Photos writes -180 where it knows no place.
    let (latitude, longitude) = meta.location.unwrap_or((-180.0, -180.0));
    db.execute(
        &format!(
            "INSERT INTO {} (Z_PK, Z_ENT, Z_OPT, ZUUID, ZDIRECTORY, ZFILENAME, ZDATECREATED, ZADDEDDATE,
               ZMODIFICATIONDATE, ZKIND, ZKINDSUBTYPE, ZPLAYBACKSTYLE, ZUNIFORMTYPEIDENTIFIER, ZWIDTH, ZHEIGHT,
               ZDURATION, ZFAVORITE, ZHIDDEN, ZTRASHEDSTATE, ZTRASHEDDATE, ZVISIBILITYSTATE, ZCLOUDLOCALSTATE,
               ZSAVEDASSETTYPE, ZBUNDLESCOPE, ZCLOUDPLACEHOLDERKIND, ZHASADJUSTMENTS, ZAVALANCHEUUID,
               ZAVALANCHEPICKTYPE, ZDEPTHTYPE, ZLATITUDE, ZLONGITUDE, ZADDITIONALATTRIBUTES)
             VALUES (?1, ?2, 3, ?3, ?4, ?5, ?6, ?6, ?6, ?7, ?8, ?9, ?10, 96, 72, ?11, ?18, ?12, ?13, ?14, ?21, 1,
               ?15, 0, ?16, ?17, ?19, ?20, 0, ?22, ?23, ?1)",
            schema.asset_table
        ),
        params![
            pk,
            schema.asset_ent,
            asset.uuid,
            directory,
            filename,
            date,
            kind,
            subtype,
            playback,
            format.uti(),
            if kind == 1 { 1.0 } else { 0.0 },
            hidden,
            trashed,
            if trashed == 1 { Some(date + 86_400.0) } else { None },
            saved_type,
            if cloud { 5 } else { 0 },
            i64::from(asset.kind == AssetKind::Edited),
            i64::from(meta.favorite),
            burst,
            pick,
            // Frames of a burst not picked are not shown in the library.
            if pick == 2 { 2 } else { 0 },
            latitude,
            longitude,
        ],
    )?;
    let exif = exif_timestamp(asset.created + meta.utc_offset);
    let description = meta.caption.as_ref().map(|_| pk);
    db.execute(
        &format!(
            "INSERT INTO ZADDITIONALASSETATTRIBUTES (Z_PK, Z_ENT, Z_OPT, ZASSET, ZASSETDESCRIPTION, ZORIGINALFILENAME,
               ZORIGINALFILESIZE, ZTIMEZONENAME, ZTIMEZONEOFFSET, ZEXIFTIMESTAMPSTRING, ZTITLE, {}, {})
             VALUES (?1, 1, 1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'com.apple.camera', ?9)",
            schema.importer_column, schema.fingerprint_column
        ),
        params![
            pk,
            description,
            asset.name,
            asset.size as i64,
            zone_name(meta.utc_offset),
            meta.utc_offset,
            exif,
            meta.title,
            format!("AQ{}", &asset.uuid[..8])
        ],
    )?;
    if let Some(caption) = &meta.caption {
        db.execute(
            "INSERT INTO ZASSETDESCRIPTION (Z_PK, Z_ENT, Z_OPT, ZASSETATTRIBUTES, ZLONGDESCRIPTION) VALUES (?1, 6, 1, ?1, ?2)",
            params![pk, caption],
        )?;
    }
    for keyword in &meta.keywords {
        let key = key_of(&context.names.keywords, keyword);
        db.execute(
            &format!(
                "INSERT INTO Z_1KEYWORDS (Z_1ASSETATTRIBUTES, {}) VALUES (?1, ?2)",
                schema.keyword_column()
            ),
            params![pk, key],
        )?;
    }
    for person in &meta.people {
        let key = key_of(&context.names.people, person);
        db.execute(
            &format!(
                "INSERT INTO ZDETECTEDFACE (Z_ENT, Z_OPT, {}, {}, ZCENTERX, ZCENTERY, ZSIZE) VALUES (4, 1, ?1, ?2, 0.5, 0.5, 0.2)",
                schema.face_asset_column, schema.face_person_column
            ),
            params![pk, key],
        )?;
    }
    // The original's resource, and the Live Photo's video resource.
    let local = if cloud { -1 } else { 1 };
    db.execute(
        "INSERT INTO ZINTERNALRESOURCE (Z_ENT, Z_OPT, ZASSET, ZRESOURCETYPE, ZDATASTORESUBTYPE, ZLOCALAVAILABILITY,
           ZREMOTEAVAILABILITY, ZCLOUDLOCALSTATE, ZDATALENGTH, ZFINGERPRINT, ZTRASHEDSTATE)
         VALUES (2, 1, ?1, ?2, 1, ?3, 1, ?4, ?5, ?6, ?7)",
        params![
            pk,
            if kind == 1 { 1 } else { 0 },
            local,
            if cloud { 3 } else { 1 },
            asset.size as i64,
            format!("AQ{}", &asset.uuid[..8]),
            trashed
        ],
    )?;
    if asset.kind == AssetKind::Live {
        db.execute(
            "INSERT INTO ZINTERNALRESOURCE (Z_ENT, Z_OPT, ZASSET, ZRESOURCETYPE, ZDATASTORESUBTYPE, ZLOCALAVAILABILITY,
               ZREMOTEAVAILABILITY, ZCLOUDLOCALSTATE, ZDATALENGTH, ZFINGERPRINT, ZTRASHEDSTATE)
             VALUES (2, 1, ?1, 3, 1, 1, 1, 1, 0, NULL, 0)",
            params![pk],
        )?;
    }
    let albums = meta.albums.iter().chain(&meta.shared_album);
    for title in albums {
        let Some(album) = context.titles.iter().position(|(t, _)| t == title) else {
            continue;
        };
        db.execute(
            &format!(
                "INSERT INTO {} ({}, {}, Z_FOK_{}) VALUES (?1, ?2, ?3)",
                schema.join_table(),
                schema.join_album_column(),
                schema.join_asset_column(),
                schema.join_asset_column()
            ),
            params![album as i64 + 1, pk, index as i64],
        )?;
    }
    Ok(())
}

/// The row key of `item` in `list` (1-based).
fn key_of(list: &[String], item: &str) -> i64 {
    list.iter().position(|k| k == item).map_or(0, |at| at as i64 + 1)
}

/// A time zone name for an offset, as ZTIMEZONENAME holds it.
fn zone_name(offset: i64) -> &'static str {
    match offset {
        3600 => "Europe/Paris",
        -18_000 => "America/New_York",
        19_800 => "Asia/Kolkata",
        _ => "Europe/London",
    }
}

/// Puts the asset `uuid` into the album titled `album` too, as the Photos app does when
/// someone adds a photo to an album: a test's way to change albums between runs.
pub fn add_to_album(media: &Path, ios: &str, uuid: &str, album: &str) -> Result<()> {
    let db = Connection::open(media.join("PhotoData/Photos.sqlite"))?;
    let schema = Schema::for_ios(ios);
    let asset: i64 = db.query_row(
        &format!("SELECT Z_PK FROM {} WHERE ZUUID = ?1", schema.asset_table),
        [uuid],
        |r| r.get(0),
    )?;
    let album: i64 = db.query_row("SELECT Z_PK FROM ZGENERICALBUM WHERE ZTITLE = ?1", [album], |r| {
        r.get(0)
    })?;
    db.execute(
        &format!(
            "INSERT INTO {} ({}, {}, Z_FOK_{}) VALUES (?1, ?2, 0)",
            schema.join_table(),
            schema.join_album_column(),
            schema.join_asset_column(),
            schema.join_asset_column()
        ),
        params![album, asset],
    )?;
    Ok(())
}

/// Sets `favorite` on the asset `uuid` in the library under `media`, as the Photos app
/// does when someone taps the heart: a test's way to change metadata between runs.
pub fn set_favorite(media: &Path, ios: &str, uuid: &str, favorite: bool) -> Result<()> {
    let db = Connection::open(media.join("PhotoData/Photos.sqlite"))?;
    let table = Schema::for_ios(ios).asset_table;
    let changed = db.execute(
        &format!("UPDATE {table} SET ZFAVORITE = ?1 WHERE ZUUID = ?2"),
        params![i64::from(favorite), uuid],
    )?;
    anyhow::ensure!(changed == 1, "no asset {uuid}");
    Ok(())
}

/// `YYYY:MM:DD HH:MM:SS` (UTC) for a Unix time, as EXIF writes it.
fn exif_timestamp(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}:{:02}:{:02} {:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exif_dates() {
        assert_eq!(exif_timestamp(0), "1970:01:01 00:00:00");
        assert_eq!(exif_timestamp(1_717_237_800), "2024:06:01 10:30:00");
    }

    #[test]
    fn schema_names_follow_the_ios_version() {
        let s = Schema::for_ios("13.7");
        assert_eq!(
            (s.asset_table, s.join_table(), s.join_asset_column()),
            ("ZGENERICASSET", "Z_26ASSETS".into(), "Z_34ASSETS".into())
        );
        assert_eq!(Schema::for_ios("15.8").join_table(), "Z_27ASSETS");
        assert_eq!(Schema::for_ios("17.5").join_table(), "Z_28ASSETS");
        assert_eq!(Schema::for_ios("17.6").join_table(), "Z_29ASSETS");
        let s = Schema::for_ios("18.1");
        assert_eq!(
            (s.asset_table, s.join_table(), s.fingerprint_column),
            ("ZASSET", "Z_30ASSETS".into(), "ZORIGINALSTABLEHASH")
        );
    }
}

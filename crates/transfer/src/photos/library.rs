//! The phone's photo library: Photos.sqlite joined with the files actually present.
//!
//! Table and column names differ across iOS versions (docs/photos.md §A4), so they are found at
//! run time. DCIM alone is not the library: originals that came through iCloud live under
//! PhotoData/CPLAssets, edits under PhotoData/Mutations, and Live Photo videos have no row of
//! their own. Files present but unknown to the database are kept too, so nothing on the
//! phone is left behind; without a readable database the folders alone are used.

use std::path::Path;

use rusqlite::{Connection, OpenFlags};

use crate::digest_index::lower_bound;
use crate::photos::meta::{self, Burst, Metadata};
use crate::photos::walk::DeviceFile;

/// Core Data counts seconds from 2001-01-01.
const CORE_DATA_EPOCH: f64 = 978_307_200.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    Original,
    /// The video half of a Live Photo.
    LiveVideo,
    /// The `.AAE` edit instructions.
    Sidecar,
    /// The edited image or video (`FullSizeRender.*`).
    Render,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Original => "original",
            Role::LiveVideo => "live-video",
            Role::Sidecar => "sidecar",
            Role::Render => "render",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    Photo,
    Video,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub role: Role,
    pub file: DeviceFile,
}

#[derive(Debug, Clone)]
pub struct Asset {
    /// Photos' UUID, or for files the database does not know, their device path.
    pub id: String,
    pub kind: MediaKind,
    /// Capture time, Unix seconds.
    pub created: Option<i64>,
    /// The capture's offset from UTC in seconds, where the database records it, so the
    /// date layout files a photo under the month it was taken in, where it was taken.
    pub utc_offset: Option<i64>,
    pub trashed: bool,
    pub hidden: bool,
    pub albums: Vec<String>,
    /// The original's device path (even when it is not on the phone).
    pub original_path: String,
    pub resources: Vec<Resource>,
    /// The original is only in iCloud ("Optimize iPhone Storage").
    pub cloud_only: bool,
    /// The name Photos keeps for the original where the file is stored under another
    /// (iCloud originals under `PhotoData/CPLAssets` are named by UUID; docs/photos.md §A1, §A4).
    pub original_name: Option<String>,
    /// The iCloud Shared Album the asset came from (`PhotoData/PhotoCloudSharingData`).
    pub shared_album: Option<String>,
    /// Title, caption, keywords, people, favorite, place, burst; `None` when there is none.
    pub meta: Option<Box<Metadata>>,
}

impl Asset {
    /// The file name the original is exported under: Photos' original name for iCloud
    /// originals, else the name on the phone.
    pub fn export_name(&self) -> &str {
        self.original_name
            .as_deref()
            .unwrap_or_else(|| crate::photos::naming::file_name(&self.original_path))
    }
}

/// Where the asset list came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Database {
        asset_table: String,
    },
    /// No usable Photos.sqlite; the reason is shown to the user.
    FoldersOnly {
        reason: String,
    },
}

#[derive(Debug)]
pub struct Library {
    pub assets: Vec<Asset>,
    pub source: Source,
    /// Database rows not followed, with the reason (a path leaving the media folder, say).
    pub skipped: Vec<(String, String)>,
    /// The bytes of the originals only in iCloud, as Photos.sqlite records them
    /// (`ZORIGINALFILESIZE`); `None` when it records none of them.
    pub cloud_only_bytes: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("Photos.sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("Photos.sqlite has no asset table (neither ZASSET nor ZGENERICASSET)")]
    NoAssetTable,
}

fn stem_and_ext(path: &str) -> (&str, &str) {
    match path.rsplit_once('.') {
        Some((stem, ext)) if !stem.ends_with('/') && !ext.contains('/') => (stem, ext),
        _ => (path, ""),
    }
}

fn is_video_ext(ext: &str) -> bool {
    matches!(ext.to_ascii_uppercase().as_str(), "MOV" | "MP4" | "M4V")
}

fn is_media_ext(ext: &str) -> bool {
    is_video_ext(ext)
        || matches!(
            ext.to_ascii_uppercase().as_str(),
            "HEIC" | "HEIF" | "JPG" | "JPEG" | "PNG" | "DNG" | "GIF" | "TIFF" | "TIF" | "WEBP"
        )
}

/// The files of the walk, indexed for the join: sorted lists of positions rather than maps
/// of strings, so a 200,000-file library adds under 3 MB while it is joined.
struct Present<'a> {
    files: &'a [DeviceFile],
    /// Positions in `files`, by path.
    by_path: Vec<u32>,
    /// Positions in `files`, by the digest of their stem without ASCII case, then in walk
    /// order: the files of one stem (`IMG_0001.HEIC`, `.MOV`, `.AAE`) are neighbours, found
    /// from where their digest would sit (see [`crate::digest_index`]).
    by_stem: Vec<u32>,
    /// The upper half of each one's stem digest, in the same order: enough to find a stem's
    /// neighbours, which are then confirmed by name.
    stem_keys: Vec<u32>,
    claimed: Vec<bool>,
}

/// The upper half of the digest of a stem (a path without its extension) without ASCII
/// case, made with no copy.
fn stem_key(stem: &str) -> u32 {
    use std::hash::Hasher;
    let mut hasher = std::hash::DefaultHasher::new();
    let mut lower = [0u8; 64];
    for chunk in stem.as_bytes().chunks(lower.len()) {
        let lower = &mut lower[..chunk.len()];
        lower.copy_from_slice(chunk);
        lower.make_ascii_lowercase();
        hasher.write(lower);
    }
    (hasher.finish() >> 32) as u32
}

impl<'a> Present<'a> {
    fn new(files: &'a [DeviceFile]) -> Present<'a> {
        let positions = || (0..files.len() as u32).collect::<Vec<u32>>();
        let mut by_path = positions();
        by_path.sort_by(|&a, &b| files[a as usize].path.cmp(&files[b as usize].path));
        let keys: Vec<u32> = files.iter().map(|f| stem_key(stem_and_ext(&f.path).0)).collect();
        let mut by_stem = positions();
        by_stem.sort_by_key(|&at| (keys[at as usize], at));
        let stem_keys = by_stem.iter().map(|&at| keys[at as usize]).collect();
        Present {
            files,
            by_path,
            by_stem,
            stem_keys,
            claimed: vec![false; files.len()],
        }
    }

    fn claim(&mut self, at: usize) -> Option<DeviceFile> {
        let first = !std::mem::replace(&mut self.claimed[at], true);
        first.then(|| self.files[at].clone())
    }

    fn take(&mut self, path: &str) -> Option<DeviceFile> {
        let found = self
            .by_path
            .binary_search_by(|&at| self.files[at as usize].path.as_str().cmp(path))
            .ok()?;
        self.claim(self.by_path[found] as usize)
    }

    /// Positions of the files whose stem is `key` (lower-cased), in walk order.
    fn with_stem(&self, key: &str) -> Vec<usize> {
        let digest = stem_key(key);
        let spread = |k: u32| u64::from(k) << 32;
        let start = lower_bound(self.stem_keys.len(), spread(digest), |i| spread(self.stem_keys[i]));
        (start..self.stem_keys.len())
            .take_while(|&i| self.stem_keys[i] == digest)
            .map(|i| self.by_stem[i] as usize)
            // A digest match is confirmed: the text is at hand.
            .filter(|&at| stem_and_ext(&self.files[at].path).0.eq_ignore_ascii_case(key))
            .collect()
    }

    /// Unclaimed files beside `original` with the same stem and one of `exts`.
    fn siblings(&mut self, original: &str, wanted: impl Fn(&str) -> bool) -> Vec<DeviceFile> {
        let key = stem_and_ext(original).0.to_ascii_lowercase();
        let mut out = Vec::new();
        for at in self.with_stem(&key) {
            let path = &self.files[at].path;
            if path != original
                && wanted(stem_and_ext(path).1)
                && let Some(file) = self.claim(at)
            {
                out.push(file);
            }
        }
        out
    }

    /// The edited render of `original`: PhotoData/Mutations/<dir>/<stem>/Adjustments/FullSizeRender.*
    fn render(&mut self, original: &str) -> Option<DeviceFile> {
        let stem = stem_and_ext(original).0;
        let key = format!("PhotoData/Mutations/{stem}/Adjustments/FullSizeRender").to_ascii_lowercase();
        self.with_stem(&key).into_iter().find_map(|at| self.claim(at))
    }
}

/// Attaches a Live video, sidecar and render to an asset whose original is at `original`.
fn companions(present: &mut Present, original: &str, kind: MediaKind, resources: &mut Vec<Resource>) {
    if kind == MediaKind::Photo {
        for file in present.siblings(original, is_video_ext) {
            resources.push(Resource {
                role: Role::LiveVideo,
                file,
            });
        }
    }
    for file in present.siblings(original, |ext| ext.eq_ignore_ascii_case("AAE")) {
        resources.push(Resource {
            role: Role::Sidecar,
            file,
        });
    }
    if let Some(file) = present.render(original) {
        resources.push(Resource {
            role: Role::Render,
            file,
        });
    }
}

/// Which assets a caller holds on to: a nightly run keeps only those with work to do.
pub type Keep<'a> = &'a mut dyn FnMut(&Asset) -> bool;

/// Builds the library from a copied Photos.sqlite and the files present.
pub fn from_database(db: &Path, files: &[DeviceFile]) -> Result<Library, LibraryError> {
    from_database_keeping(db, files, &mut |_| true)
}

/// [`from_database`], holding only the assets `keep` wants: the others are dropped as
/// they are read, so a run's memory follows its work, not the library's size.
pub fn from_database_keeping(db: &Path, files: &[DeviceFile], keep: Keep) -> Result<Library, LibraryError> {
    let conn = Connection::open_with_flags(db, OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    let schema = meta::Schema::read(&conn)?;
    let asset_table = ["ZASSET", "ZGENERICASSET"]
        .into_iter()
        .find(|t| schema.has_table(t))
        .ok_or(LibraryError::NoAssetTable)?;
    let sql = asset_query(&schema, asset_table)?;
    // Albums, keywords and people are read beside the assets, in the same key order.
    let prepare = |sql: Option<String>| sql.map(|sql| conn.prepare(&sql)).transpose();
    let mut album_statement = prepare(albums_sql(&schema)?)?;
    let mut keyword_statement = prepare(meta::keywords_sql(&schema)?)?;
    let mut people_statement = prepare(meta::people_sql(&schema)?)?;
    let mut albums = meta::Merge::new(album_statement.as_mut())?;
    let mut keywords = meta::Merge::new(keyword_statement.as_mut())?;
    let mut people = meta::Merge::new(people_statement.as_mut())?;
    let mut present = Present::new(files);
    let mut assets = Vec::new();
    let mut skipped = Vec::new();
    let mut cloud_only_bytes: Option<u64> = None;
    let mut statement = conn.prepare(&sql)?;
    let mut rows = statement.query([])?;
    let mut previous = None;
    while let Some(row) = rows.next()? {
        let row = Row::read(row)?;
        // A damaged database may repeat an asset's attributes: the first row counts.
        if previous.replace(row.pk) == Some(row.pk) {
            continue;
        }
        let (Some(directory), Some(filename)) = (row.directory, row.filename) else {
            continue;
        };
        // A database row naming a path outside the media tree is not followed.
        if let Some(reason) = directory
            .split('/')
            .chain([filename.as_str()])
            .find_map(|part| crate::fs::names::check_listed(part).err())
        {
            skipped.push((
                format!("Photos.sqlite: {directory}/{filename}"),
                format!("not followed: {reason}"),
            ));
            continue;
        }
        let original_path = format!("{directory}/{filename}");
        let kind = if row.kind == Some(1) {
            MediaKind::Video
        } else {
            MediaKind::Photo
        };
        let mut resources = Vec::new();
        let original = present.take(&original_path);
        let cloud_only = original.is_none();
        if cloud_only && let Some(size) = row.original_size.and_then(|s| u64::try_from(s).ok()) {
            *cloud_only_bytes.get_or_insert(0) += size;
        }
        if let Some(file) = original {
            resources.push(Resource {
                role: Role::Original,
                file,
            });
        }
        companions(&mut present, &original_path, kind, &mut resources);
        // Most assets have one file; a Vec's first growth reserves four.
        resources.shrink_to_fit();
        // Only iCloud originals are stored under a name other than their own (§A1).
        let original_name = row
            .original_name
            .filter(|name| *name != filename && original_path.starts_with(CPL_ROOT))
            .filter(|name| crate::fs::names::check_listed(name).is_ok() && !name.contains('\\'));
        let (mut asset_albums, mut shared_album) = (Vec::new(), None);
        for (title, kind) in albums.take(row.pk)? {
            if kind == SHARED_ALBUM_KIND {
                shared_album.get_or_insert(title);
            } else {
                asset_albums.push(title);
            }
        }
        let metadata = Metadata {
            title: row.title.filter(|t| !t.trim().is_empty()),
            caption: row.caption.filter(|t| !t.trim().is_empty()),
            keywords: keywords.texts(row.pk)?,
            people: people.texts(row.pk)?,
            favorite: row.favorite == Some(1),
            location: meta::location(row.latitude, row.longitude),
            burst: Burst::from_columns(row.burst, row.pick),
        };
        let asset = Asset {
            id: row.uuid.unwrap_or_else(|| original_path.clone()),
            kind,
            created: row.created.map(|c| (c + CORE_DATA_EPOCH).round() as i64),
            // Offsets beyond ±18 h are not time zones; leave those dates in UTC.
            utc_offset: row.offset.filter(|o| o.abs() <= 18 * 3600),
            trashed: row.trashed == Some(1),
            hidden: row.hidden == Some(1),
            albums: asset_albums,
            shared_album: shared_album.or_else(|| shared_folder(&original_path)),
            original_path,
            resources,
            cloud_only,
            original_name,
            meta: (!metadata.is_empty()).then(|| Box::new(metadata)),
        };
        if keep(&asset) {
            assets.push(asset);
        }
    }
    drop(rows);
    drop(statement);
    assets.extend(unknown_files(&mut present, files, keep));
    // Held for the whole run: without the slack of growing by doubling.
    assets.shrink_to_fit();
    Ok(Library {
        assets,
        source: Source::Database {
            asset_table: asset_table.to_string(),
        },
        skipped,
        cloud_only_bytes,
    })
}

const CPL_ROOT: &str = "PhotoData/CPLAssets/";
/// iCloud Shared Albums (docs/photos.md §A1).
pub const SHARED_ROOT: &str = "PhotoData/PhotoCloudSharingData";

/// For a file under PhotoCloudSharingData the database does not place in an album, the
/// album's folder (`<person>/<album>/…`) stands for its name.
fn shared_folder(path: &str) -> Option<String> {
    let rest = path.strip_prefix(SHARED_ROOT)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let (_person, album, _file) = (parts.next()?, parts.next()?, parts.next()?);
    Some(album.to_string())
}

/// One row of the asset query.
struct Row {
    pk: i64,
    uuid: Option<String>,
    directory: Option<String>,
    filename: Option<String>,
    created: Option<f64>,
    kind: Option<i64>,
    trashed: Option<i64>,
    hidden: Option<i64>,
    favorite: Option<i64>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    burst: Option<String>,
    pick: Option<i64>,
    offset: Option<i64>,
    original_name: Option<String>,
    title: Option<String>,
    caption: Option<String>,
    original_size: Option<i64>,
}

impl Row {
    fn read(row: &rusqlite::Row) -> rusqlite::Result<Row> {
        // A value of an unexpected type (a hostile or damaged database) reads as unknown.
        let text = |i| row.get::<_, Option<String>>(i).unwrap_or(None);
        let int = |i| row.get::<_, Option<i64>>(i).unwrap_or(None);
        let real = |i| row.get::<_, Option<f64>>(i).unwrap_or(None);
        Ok(Row {
            pk: row.get(0)?,
            uuid: text(1),
            directory: text(2),
            filename: text(3),
            created: real(4),
            kind: int(5),
            trashed: int(6),
            hidden: int(7),
            favorite: int(8),
            latitude: real(9),
            longitude: real(10),
            burst: text(11),
            pick: int(12),
            offset: int(13),
            original_name: text(14),
            title: text(15),
            caption: text(16),
            original_size: int(17),
        })
    }
}

/// The asset query for this schema: the asset table's columns (a constant for any this
/// version lacks), joined with ZADDITIONALASSETATTRIBUTES and ZASSETDESCRIPTION where
/// they exist (docs/photos.md §A4).
fn asset_query(schema: &meta::Schema, asset_table: &str) -> Result<String, LibraryError> {
    let columns = schema.columns(asset_table)?;
    let column = |name: &str, default: &str| {
        if columns.contains(name) {
            format!("a.{name}")
        } else {
            default.to_string()
        }
    };
    let mut select: Vec<String> = ["Z_PK", "ZUUID", "ZDIRECTORY", "ZFILENAME"]
        .iter()
        .map(|c| format!("a.{c}"))
        .collect();
    for (name, default) in [
        ("ZDATECREATED", "NULL"),
        ("ZKIND", "0"),
        ("ZTRASHEDSTATE", "0"),
        ("ZHIDDEN", "0"),
    ]
    .into_iter()
    .chain(meta::ASSET_COLUMNS)
    {
        select.push(column(name, default));
    }
    let attributes = schema.columns("ZADDITIONALASSETATTRIBUTES")?;
    let mut joins = String::new();
    // By the asset's key to its attributes where it has one (a primary-key lookup), else
    // by the attributes' key back to the asset (docs/photos.md §A4).
    let joined = if columns.contains("ZADDITIONALATTRIBUTES") && !attributes.is_empty() {
        joins.push_str(" LEFT JOIN ZADDITIONALASSETATTRIBUTES aa ON aa.Z_PK = a.ZADDITIONALATTRIBUTES");
        true
    } else if attributes.contains("ZASSET") {
        joins.push_str(" LEFT JOIN ZADDITIONALASSETATTRIBUTES aa ON aa.ZASSET = a.Z_PK");
        true
    } else {
        false
    };
    let attribute = |name: &str| {
        if joined && attributes.contains(name) {
            format!("aa.{name}")
        } else {
            "NULL".to_string()
        }
    };
    select.extend(["ZTIMEZONEOFFSET", "ZORIGINALFILENAME", "ZTITLE"].map(attribute));
    // The caption: ZASSETDESCRIPTION, linked from the attributes or back to them.
    let descriptions = schema.columns("ZASSETDESCRIPTION")?;
    let caption = if !joined || !descriptions.contains("ZLONGDESCRIPTION") {
        "NULL"
    } else if attributes.contains("ZASSETDESCRIPTION") {
        joins.push_str(" LEFT JOIN ZASSETDESCRIPTION d ON d.Z_PK = aa.ZASSETDESCRIPTION");
        "d.ZLONGDESCRIPTION"
    } else if descriptions.contains("ZASSETATTRIBUTES") {
        joins.push_str(" LEFT JOIN ZASSETDESCRIPTION d ON d.ZASSETATTRIBUTES = aa.Z_PK");
        "d.ZLONGDESCRIPTION"
    } else {
        "NULL"
    };
    select.push(caption.to_string());
    select.push(attribute("ZORIGINALFILESIZE"));
    // In key order, so that a repeated asset (a damaged database) is a neighbour.
    Ok(format!(
        "SELECT {} FROM {asset_table} a{joins} ORDER BY a.Z_PK",
        select.join(", ")
    ))
}

/// The album query, by asset key, through the join table whose name this iOS version uses:
/// `Z_<album entity>ASSETS` with columns `Z_<album entity>ALBUMS` and `Z_<asset entity>ASSETS`
/// (docs/photos.md §A4), with each album's kind (iCloud Shared Albums are 1505).
fn albums_sql(schema: &meta::Schema) -> Result<Option<String>, LibraryError> {
    if !schema.has_table("ZGENERICALBUM") {
        return Ok(None);
    }
    let (Some(album), Some(asset)) = (schema.entity("GenericAlbum")?, schema.entity("Asset")?) else {
        return Ok(None);
    };
    let join = format!("Z_{album}ASSETS");
    let columns = schema.columns(&join)?;
    if !columns.contains(&format!("Z_{album}ALBUMS")) || !columns.contains(&format!("Z_{asset}ASSETS")) {
        return Ok(None);
    }
    let kind = if schema.columns("ZGENERICALBUM")?.contains("ZKIND") {
        "a.ZKIND"
    } else {
        "0"
    };
    Ok(Some(format!(
        "SELECT j.Z_{asset}ASSETS, a.ZTITLE, {kind} FROM {join} j JOIN ZGENERICALBUM a ON a.Z_PK = j.Z_{album}ALBUMS
         WHERE a.ZTITLE IS NOT NULL ORDER BY j.Z_{asset}ASSETS, a.ZTITLE"
    )))
}

/// `ZGENERICALBUM.ZKIND` of an iCloud Shared Album (docs/photos.md §A4).
const SHARED_ALBUM_KIND: i64 = 1505;

/// Media files no database row claimed (taken after the database copy, imported, or a
/// library without a database), grouped by name as Photos groups them.
fn unknown_files(present: &mut Present, files: &[DeviceFile], keep: Keep) -> Vec<Asset> {
    let mut assets = Vec::new();
    // Stills first, so a Live Photo's video joins its still rather than standing alone.
    let mut candidates: Vec<&DeviceFile> = files
        .iter()
        .filter(|f| !f.path.starts_with("PhotoData/Mutations/") && is_media_ext(stem_and_ext(&f.path).1))
        .collect();
    candidates.sort_by_key(|f| (is_video_ext(stem_and_ext(&f.path).1), f.path.clone()));
    for file in candidates {
        let Some(file) = present.take(&file.path) else { continue };
        let kind = if is_video_ext(stem_and_ext(&file.path).1) {
            MediaKind::Video
        } else {
            MediaKind::Photo
        };
        let original_path = file.path.clone();
        let created = Some((file.mtime_ns / 1_000_000_000) as i64);
        let mut resources = vec![Resource {
            role: Role::Original,
            file,
        }];
        companions(present, &original_path, kind, &mut resources);
        let asset = Asset {
            id: original_path.clone(),
            kind,
            created,
            utc_offset: None,
            trashed: false,
            hidden: false,
            albums: Vec::new(),
            shared_album: shared_folder(&original_path),
            original_path,
            resources,
            cloud_only: false,
            original_name: None,
            meta: None,
        };
        if keep(&asset) {
            assets.push(asset);
        }
    }
    assets
}

/// The library from the folders alone, when Photos.sqlite cannot be read.
pub fn from_files(files: &[DeviceFile], reason: String) -> Library {
    from_files_keeping(files, reason, &mut |_| true)
}

/// [`from_files`], holding only the assets `keep` wants.
pub fn from_files_keeping(files: &[DeviceFile], reason: String, keep: Keep) -> Library {
    let mut present = Present::new(files);
    Library {
        assets: unknown_files(&mut present, files, keep),
        source: Source::FoldersOnly { reason },
        skipped: Vec::new(),
        cloud_only_bytes: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str) -> DeviceFile {
        DeviceFile {
            path: path.into(),
            size: 10,
            mtime_ns: 1_700_000_000_000_000_000,
        }
    }

    #[test]
    fn folders_alone_pair_live_photos_sidecars_and_renders() {
        let files = vec![
            file("DCIM/100APPLE/IMG_0001.HEIC"),
            file("DCIM/100APPLE/IMG_0001.MOV"),
            file("DCIM/100APPLE/IMG_0002.MOV"),
            file("DCIM/100APPLE/IMG_0003.JPG"),
            file("DCIM/100APPLE/IMG_0003.AAE"),
            file("PhotoData/Mutations/DCIM/100APPLE/IMG_0003/Adjustments/FullSizeRender.jpg"),
            file("PhotoData/Mutations/DCIM/100APPLE/IMG_0003/Adjustments/Adjustments.plist"),
            file("PhotoData/CPLAssets/group1/ABC.JPG"),
        ];
        let library = from_files(&files, "test".into());
        let roles = |id: &str| -> Vec<Role> {
            let asset = library.assets.iter().find(|a| a.id == id).unwrap();
            asset.resources.iter().map(|r| r.role).collect()
        };
        assert_eq!(library.assets.len(), 4);
        assert_eq!(
            roles("DCIM/100APPLE/IMG_0001.HEIC"),
            vec![Role::Original, Role::LiveVideo]
        );
        assert_eq!(roles("DCIM/100APPLE/IMG_0002.MOV"), vec![Role::Original]);
        assert_eq!(
            roles("DCIM/100APPLE/IMG_0003.JPG"),
            vec![Role::Original, Role::Sidecar, Role::Render]
        );
        assert_eq!(roles("PhotoData/CPLAssets/group1/ABC.JPG"), vec![Role::Original]);
    }
}

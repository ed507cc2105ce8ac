//! Where each exported file goes: the folder of the chosen layout and the local names of an
//! asset's files, which share one base name so a Live Photo's halves, its `.AAE` and its
//! edit stay together.

use std::fmt;
use std::str::FromStr;

use crate::fs::names::{join_ext, local_name, split_ext};
use crate::photos::library::{Asset, Role};

/// How exported files are arranged under the destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// `YYYY/MM/` by capture date, in the time zone it was taken in where the phone knows it.
    #[default]
    Date,
    /// The phone's own folders (`DCIM/100APPLE/`).
    Device,
    /// Everything in one folder.
    Flat,
    /// `Albums/<album>/` for each album a photo is in (one stored file, hard links in the
    /// others), `No Album/` for the rest.
    Album,
}

impl Layout {
    pub const NAMES: [&str; 4] = ["date", "device", "flat", "album"];

    pub fn name(self) -> &'static str {
        match self {
            Layout::Date => "date",
            Layout::Device => "device",
            Layout::Flat => "flat",
            Layout::Album => "album",
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a layout; choose date, device, flat or album")]
pub struct UnknownLayout(String);

impl FromStr for Layout {
    type Err = UnknownLayout;

    fn from_str(s: &str) -> Result<Layout, UnknownLayout> {
        match s.to_ascii_lowercase().as_str() {
            "date" => Ok(Layout::Date),
            "device" => Ok(Layout::Device),
            "flat" => Ok(Layout::Flat),
            "album" => Ok(Layout::Album),
            _ => Err(UnknownLayout(s.to_string())),
        }
    }
}

pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Where the album layout puts photos in no album.
pub const NO_ALBUM: &str = "No Album";
/// The folder of the album layout's albums, and of shared albums in every layout.
pub const ALBUMS: &str = "Albums";
pub const SHARED: &str = "Shared";

/// The folders an asset goes to, relative to DEST: the one that stores its files first,
/// then (album layout) one per further album, which get hard links.
pub fn folders_for(asset: &Asset, layout: Layout) -> Vec<String> {
    if layout != Layout::Album || asset.shared_album.is_some() || asset.albums.is_empty() {
        return vec![folder_for(asset, layout)];
    }
    let mut folders: Vec<String> = Vec::with_capacity(asset.albums.len());
    for album in &asset.albums {
        let folder = format!("{ALBUMS}/{}", local_name(album));
        // Two titles that become one local name share one folder.
        if !folders.iter().any(|f| f.eq_ignore_ascii_case(&folder)) {
            folders.push(folder);
        }
    }
    folders
}

/// The folder an asset's files are stored in, relative to DEST. Shared-album photos go
/// under `Shared/<album>/` whatever the layout.
pub fn folder_for(asset: &Asset, layout: Layout) -> String {
    if let Some(album) = &asset.shared_album {
        return format!("{SHARED}/{}", local_name(album));
    }
    match layout {
        Layout::Flat => String::new(),
        Layout::Album => match asset.albums.first() {
            Some(album) => format!("{ALBUMS}/{}", local_name(album)),
            None => NO_ALBUM.to_string(),
        },
        Layout::Device => asset
            .original_path
            .rsplit_once('/')
            .map(|(dir, _)| dir.split('/').map(local_name).collect::<Vec<_>>().join("/"))
            .unwrap_or_default(),
        Layout::Date => {
            // A hostile offset must not overflow: one beyond a day is no time zone.
            let offset = asset.utc_offset.filter(|o| o.unsigned_abs() <= 86_400).unwrap_or(0);
            match asset
                .created
                .and_then(|c| c.checked_add(offset))
                .and_then(|local| time::OffsetDateTime::from_unix_timestamp(local).ok())
            {
                Some(t) => format!("{:04}/{:02}", t.year(), u8::from(t.month())),
                None => "undated".into(),
            }
        }
    }
}

/// The local name of each file of an asset (by its index in `asset.resources`), all sharing
/// one base name made safe from the original's, with the `suffix`th suffix (0: none).
pub fn names_for(asset: &Asset, suffix: u32, skip_edited: bool) -> Vec<(usize, String)> {
    let original = local_name(asset.export_name());
    let (stem, _) = split_ext(&original);
    // The stem alone may hold dots (`my.photo`): suffix it as a whole.
    let base = match suffix {
        0 => stem.to_string(),
        n => format!("{stem} ({n})"),
    };
    asset
        .resources
        .iter()
        .enumerate()
        .filter(|(_, r)| !(skip_edited && r.role == Role::Render))
        .map(|(at, r)| {
            let (_, ext) = split_ext(file_name(&r.file.path));
            let ext = if ext.is_empty() { ext.into() } else { local_name(ext) };
            let name = match r.role {
                Role::Render => join_ext(&format!("{base}_edited"), &ext.to_ascii_uppercase()),
                _ => join_ext(&base, &ext),
            };
            (at, name)
        })
        .collect()
}

pub fn join_rel(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_string()
    } else {
        format!("{folder}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::photos::library::{MediaKind, Resource};
    use crate::photos::walk::DeviceFile;

    fn asset(created: i64, utc_offset: Option<i64>) -> Asset {
        Asset {
            id: "A".into(),
            kind: MediaKind::Photo,
            created: Some(created),
            utc_offset,
            trashed: false,
            hidden: false,
            albums: Vec::new(),
            original_path: "DCIM/100APPLE/IMG_0001.HEIC".into(),
            resources: Vec::new(),
            cloud_only: false,
            original_name: None,
            shared_album: None,
            meta: None,
        }
    }

    fn file(path: &str) -> DeviceFile {
        DeviceFile {
            path: path.into(),
            size: 1,
            mtime_ns: 0,
        }
    }

    #[test]
    fn date_folders_use_the_capture_time_zone() {
        // 2019-01-31 23:30 UTC is already February in Paris.
        let late = 1_548_977_400;
        assert_eq!(folder_for(&asset(late, None), Layout::Date), "2019/01");
        assert_eq!(folder_for(&asset(late, Some(3600)), Layout::Date), "2019/02");
        assert_eq!(folder_for(&asset(late, Some(-3600)), Layout::Date), "2019/01");
        assert_eq!(folder_for(&asset(late, None), Layout::Device), "DCIM/100APPLE");
        assert_eq!(folder_for(&asset(late, None), Layout::Flat), "");
    }

    #[test]
    fn hostile_times_do_not_overflow() {
        assert_eq!(folder_for(&asset(i64::MAX, Some(i64::MAX)), Layout::Date), "undated");
        assert_eq!(folder_for(&asset(i64::MAX - 10, Some(3600)), Layout::Date), "undated");
        let late = 1_548_977_400;
        assert_eq!(folder_for(&asset(late, Some(i64::MIN)), Layout::Date), "2019/01");
    }

    #[test]
    fn an_asset_shares_one_base_name_and_suffixes_together() {
        let mut live = asset(0, None);
        live.resources = vec![
            Resource {
                role: Role::Original,
                file: file("DCIM/100APPLE/IMG_0001.HEIC"),
            },
            Resource {
                role: Role::LiveVideo,
                file: file("DCIM/100APPLE/IMG_0001.MOV"),
            },
            Resource {
                role: Role::Render,
                file: file("PhotoData/Mutations/DCIM/100APPLE/IMG_0001/Adjustments/FullSizeRender.heic"),
            },
        ];
        let names: Vec<String> = names_for(&live, 0, false).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG_0001.HEIC", "IMG_0001.MOV", "IMG_0001_edited.HEIC"]);
        let names: Vec<String> = names_for(&live, 1, true).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG_0001 (1).HEIC", "IMG_0001 (1).MOV"]);
    }

    #[test]
    fn unusable_names_become_safe_and_no_name_ends_in_a_dot() {
        let mut odd = asset(0, None);
        odd.original_path = "DCIM/100APPLE/IMG\\0003.JPG".into();
        odd.resources = vec![
            Resource {
                role: Role::Original,
                file: file("DCIM/100APPLE/IMG\\0003.JPG"),
            },
            Resource {
                role: Role::LiveVideo,
                file: file("DCIM/100APPLE/IMG\\0003.MOV"),
            },
        ];
        let names: Vec<String> = names_for(&odd, 0, false).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG_0003.JPG", "IMG_0003.MOV"]);

        let mut bare = asset(0, None);
        bare.original_path = "DCIM/100APPLE/IMG".into();
        bare.resources = vec![Resource {
            role: Role::Original,
            file: file("DCIM/100APPLE/IMG"),
        }];
        let names: Vec<String> = names_for(&bare, 0, false).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG"]);
        let names: Vec<String> = names_for(&bare, 1, false).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG (1)"]);
    }

    #[test]
    fn icloud_originals_take_their_original_name() {
        let mut cpl = asset(0, None);
        cpl.original_path = "PhotoData/CPLAssets/group1/0A11CE00-0000.JPG".into();
        cpl.original_name = Some("IMG_4321.JPG".into());
        cpl.resources = vec![Resource {
            role: Role::Original,
            file: file("PhotoData/CPLAssets/group1/0A11CE00-0000.JPG"),
        }];
        let names: Vec<String> = names_for(&cpl, 0, false).into_iter().map(|(_, n)| n).collect();
        assert_eq!(names, vec!["IMG_4321.JPG"]);
    }

    #[test]
    fn album_and_shared_folders() {
        let mut a = asset(0, None);
        assert_eq!(folders_for(&a, Layout::Album), vec![NO_ALBUM.to_string()]);
        a.albums = vec!["Trips".into(), "Cats: best".into(), "trips".into()];
        assert_eq!(
            folders_for(&a, Layout::Album),
            vec!["Albums/Trips", "Albums/Cats_ best"]
        );
        assert_eq!(folders_for(&a, Layout::Date), vec!["1970/01"]);
        a.shared_album = Some("Family".into());
        assert_eq!(folders_for(&a, Layout::Album), vec!["Shared/Family"]);
        assert_eq!(folder_for(&a, Layout::Device), "Shared/Family");
    }

    #[test]
    fn layouts_parse_by_name() {
        for name in Layout::NAMES {
            assert_eq!(name.parse::<Layout>().unwrap().name(), name);
        }
        assert!("albums".parse::<Layout>().is_err());
    }
}

//! What to copy and where: the library minus what the manifest holds, each asset under one
//! free base name.

use std::collections::HashMap;
use std::path::Path;

use crate::manifest::{Manifest, ManifestIndex, asset_key};
use crate::photos::library::{Asset, Library, MediaKind, Role, Source};
use crate::photos::naming::{Layout, file_name, folders_for, join_rel, names_for};
use crate::photos::xmp;

#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub include_trashed: bool,
    pub exclude_hidden: bool,
    /// Only assets captured at or after this Unix time.
    pub since: Option<i64>,
    pub photos_only: bool,
    pub videos_only: bool,
    pub album: Option<String>,
    /// Leave edited renders out.
    pub skip_edited: bool,
    /// Leave out photos from iCloud Shared Albums.
    pub exclude_shared: bool,
}

/// The sidecar written beside each exported original.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SidecarFormat {
    #[default]
    None,
    /// `NAME.ext.xmp` with what Photos.sqlite knows ([`xmp`]).
    Xmp,
}

#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    pub layout: Layout,
    pub selection: Selection,
    pub dry_run: bool,
    /// Read every file twice and keep it only when both reads hash the same. AFC carries no
    /// checksum of its own; this catches bytes damaged between the phone's disk and ours,
    /// at the price of a second transfer (the phone serves it from its cache).
    pub verify_reads: bool,
    pub sidecar: SidecarFormat,
    /// Album names become keywords in the sidecars too.
    pub album_keywords: bool,
}

/// One file planned for copying.
#[derive(Debug, Clone)]
pub struct Planned {
    pub asset_id: String,
    pub role: Role,
    pub device_path: String,
    pub size: u64,
    pub device_mtime_ns: u64,
    pub capture_date: Option<i64>,
    /// Relative to DEST.
    pub dest_path: String,
    /// Further places the same file goes, as hard links (the album layout's further albums).
    pub links: Vec<String>,
}

/// A sidecar to write: beside the original once it is copied, or, when the original is
/// already there, in place of one whose metadata changed on the phone.
#[derive(Debug, Clone)]
pub struct PlannedSidecar {
    pub asset_id: String,
    /// The original's device path: the sidecar follows wherever that file lands.
    pub original: String,
    /// Where the original already is; empty when it is copied in this run.
    pub beside: Vec<String>,
    pub text: String,
}

/// A file already exported that a further album's folder should hold too (a photo added
/// to an album after it was exported): a hard link from where it is, no read of the phone.
#[derive(Debug, Clone)]
pub struct PlannedLink {
    pub asset_id: String,
    pub role: Role,
    pub device_path: String,
    pub size: u64,
    pub device_mtime_ns: u64,
    pub capture_date: Option<i64>,
    /// Where the file is now, relative to DEST.
    pub from: String,
    pub to: String,
}

/// Why an entry on the phone was not copied, as reports list it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub path: String,
    pub reason: String,
    /// A file of the phone's that is now in neither place (as opposed to a symbolic link
    /// or a database row pointing nowhere, which are not photos).
    pub left_behind: bool,
}

#[derive(Debug, Default)]
pub struct ExportReport {
    pub source: Option<Source>,
    pub assets_selected: u64,
    pub copied: Vec<Planned>,
    pub bytes_copied: u64,
    /// Files already in the destination from an earlier run.
    pub already_there: u64,
    /// Originals only in iCloud: their device paths.
    pub cloud_only: Vec<String>,
    pub failed: Vec<(String, String)>,
    /// Planned but not copied (dry run).
    pub planned: Vec<Planned>,
    pub skipped: Vec<Skip>,
    /// Sidecars planned, and the destinations of those written.
    pub sidecars_planned: Vec<PlannedSidecar>,
    pub sidecars_written: Vec<String>,
    /// Links to files already exported, planned and made (album layout).
    pub links_planned: Vec<PlannedLink>,
    pub links_made: Vec<String>,
    /// What the run had to change to get through (one AFC request at a time).
    pub notes: Vec<String>,
    /// Files among `failed` that the phone refused with an AFC error status: with several
    /// files open at once, a phone that cannot cope with that answers so.
    pub refused_by_phone: usize,
}

impl ExportReport {
    /// This run's report followed by a second pass's over the same destination: the second
    /// found this one's copies already there, so they move back to copied, and what the
    /// second pass could not copy is what failed.
    pub fn then(self, second: ExportReport) -> ExportReport {
        let copied_first = self.copied.len() as u64;
        let mut copied = self.copied;
        copied.extend(second.copied);
        let mut sidecars_written = self.sidecars_written;
        sidecars_written.extend(second.sidecars_written);
        let mut links_made = self.links_made;
        links_made.extend(second.links_made);
        let mut notes = self.notes;
        notes.extend(second.notes);
        ExportReport {
            copied,
            bytes_copied: self.bytes_copied + second.bytes_copied,
            already_there: second.already_there.saturating_sub(copied_first),
            sidecars_written,
            links_made,
            notes,
            ..second
        }
    }

    /// Files on the phone that are neither copied nor already there: failures, originals
    /// only in iCloud, and entries the walk could not take.
    pub fn left_behind(&self) -> usize {
        self.failed.len() + self.cloud_only.len() + self.unreadable()
    }

    /// Entries the walk could not take (unreadable, unusable), which a later run may.
    pub fn unreadable(&self) -> usize {
        self.skipped.iter().filter(|s| s.left_behind).count()
    }

    /// What was left behind, in one sentence naming only what happened ("2 files failed and
    /// 6 originals are only in iCloud"), or `None` when nothing was.
    pub fn left_behind_sentence(&self) -> Option<String> {
        let plural = |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut parts = Vec::new();
        if !self.failed.is_empty() {
            parts.push(plural(self.failed.len(), "file failed", "files failed"));
        }
        if self.unreadable() > 0 {
            parts.push(plural(
                self.unreadable(),
                "file could not be read",
                "files could not be read",
            ));
        }
        if !self.cloud_only.is_empty() {
            parts.push(plural(
                self.cloud_only.len(),
                "original is only in iCloud",
                "originals are only in iCloud",
            ));
        }
        let last = parts.pop()?;
        let mut sentence = if parts.is_empty() {
            last
        } else {
            format!("{} and {last}", parts.join(", "))
        };
        if !self.failed.is_empty() || self.unreadable() > 0 {
            sentence.push_str("; run again to retry");
        }
        Some(sentence)
    }
}

fn selected(asset: &Asset, selection: &Selection) -> bool {
    (selection.include_trashed || !asset.trashed)
        && !(selection.exclude_hidden && asset.hidden)
        && selection
            .since
            .is_none_or(|since| asset.created.is_some_and(|c| c >= since))
        && !(selection.photos_only && asset.kind != MediaKind::Photo)
        && !(selection.videos_only && asset.kind != MediaKind::Video)
        && selection
            .album
            .as_ref()
            .is_none_or(|album| asset.albums.iter().chain(&asset.shared_album).any(|a| a == album))
        && !(selection.exclude_shared && asset.shared_album.is_some())
}

/// Assets a run did not hold on to because they had nothing to do: selected, every file
/// already exported, the sidecar (if any) current. They count in the report all the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Tally {
    pub assets: u64,
    pub files: u64,
}

/// Decides, asset by asset while the library is read, which ones the run needs: on a
/// night with nothing new, none, so memory stays flat however large the library is.
pub struct Prefilter<'a> {
    index: &'a ManifestIndex,
    options: &'a ExportOptions,
    pub tally: Tally,
}

impl<'a> Prefilter<'a> {
    pub fn new(index: &'a ManifestIndex, options: &'a ExportOptions) -> Prefilter<'a> {
        Prefilter {
            index,
            options,
            tally: Tally::default(),
        }
    }

    /// Whether the plan needs `asset`; one it does not need is counted in [`Self::tally`].
    pub fn keep(&mut self, asset: &Asset) -> bool {
        if !selected(asset, &self.options.selection) {
            return false;
        }
        if asset.cloud_only {
            return true;
        }
        let mut files = 0;
        for resource in &asset.resources {
            if self.options.selection.skip_edited && resource.role == Role::Render {
                continue;
            }
            let file = &resource.file;
            if self.index.find(&file.path, file.size, file.mtime_ns).is_none() {
                return true;
            }
            files += 1;
        }
        if self.options.sidecar == SidecarFormat::Xmp && stale_sidecars(asset, self.index, self.options).is_some() {
            return true;
        }
        if !missing_album_folders(asset, self.index, self.options.layout).is_empty() {
            return true;
        }
        self.tally.assets += 1;
        self.tally.files += files;
        false
    }
}

/// Who holds each destination name: this plan, the manifest, or a file already on disk
/// that no row records (put there by hand, or another tool). The planner asks it for an
/// asset's base name, and so does the writer when a name it was given turns out taken
/// when the file arrives; both count suffixes with [`names_for`], from (1).
pub struct Namer<'a> {
    dest: &'a Path,
    index: &'a ManifestIndex,
    /// Lower-cased destination path -> the asset (key) this run gives it to, 0 for none.
    taken: HashMap<String, u64>,
}

impl<'a> Namer<'a> {
    pub fn new(dest: &'a Path, index: &'a ManifestIndex) -> Namer<'a> {
        Namer {
            dest,
            index,
            taken: HashMap::new(),
        }
    }

    /// Whether `rel` may go to `asset`: nobody else holds it, and a file already there
    /// without a row could be this very file (same size: a killed run's, adopted once its
    /// hash is checked). `size` is `None` when any file there counts as taken.
    fn free_for(&self, rel: &str, asset: &str, size: Option<u64>) -> bool {
        let owner = match self.taken.get(&rel.to_lowercase()) {
            Some(owner) => Some(*owner),
            None => self.index.by_dest(rel).map(|row| row.asset_key()),
        };
        if let Some(owner) = owner {
            return owner == asset_key(asset);
        }
        match std::fs::symlink_metadata(self.dest.join(rel)) {
            Ok(meta) => size.is_some_and(|size| meta.is_file() && meta.len() == size),
            Err(_) => true,
        }
    }

    /// Marks `rel` as held by a file this run did not plan for (found there when a file
    /// arrived), so no asset is given it again.
    pub fn refuse(&mut self, rel: &str) {
        self.taken.insert(rel.to_lowercase(), 0);
    }

    /// The first suffix under which every file of `asset` in `folder` is free, and the
    /// names under it, now claimed for the asset.
    pub fn claim(
        &mut self,
        asset: &Asset,
        folder: &str,
        skip_edited: bool,
        same_size_is_ours: bool,
    ) -> Vec<(usize, String)> {
        let mut suffix = 0;
        let names = loop {
            let names = names_for(asset, suffix, skip_edited);
            let free = names.iter().all(|&(at, ref name)| {
                let size = Some(asset.resources[at].file.size).filter(|_| same_size_is_ours);
                self.free_for(&join_rel(folder, name), &asset.id, size)
            });
            if free {
                break names;
            }
            suffix += 1;
        };
        for (_, name) in &names {
            self.taken
                .insert(join_rel(folder, name).to_lowercase(), asset_key(&asset.id));
        }
        names
    }
}

/// Decides what to copy and where. A name is taken when the manifest or this plan gives
/// it (compared without case) to another asset, or a different file already sits there;
/// the whole asset then moves to the next free suffix, so a Live Photo's halves and an
/// edit keep one base name, also across runs.
pub fn plan(
    library: &Library,
    manifest: &Manifest,
    dest: &Path,
    options: &ExportOptions,
) -> Result<ExportReport, rusqlite::Error> {
    let index = manifest.index()?;
    let mut namer = Namer::new(dest, &index);
    Ok(plan_with(library, &mut namer, &index, options, Tally::default()))
}

/// The plan for `library`, whose assets not held (see [`Prefilter`]) are in `tally`.
pub(crate) fn plan_with(
    library: &Library,
    namer: &mut Namer,
    index: &ManifestIndex,
    options: &ExportOptions,
    tally: Tally,
) -> ExportReport {
    let mut report = ExportReport {
        source: Some(library.source.clone()),
        assets_selected: tally.assets,
        already_there: tally.files,
        skipped: library
            .skipped
            .iter()
            .map(|(path, reason)| Skip {
                path: path.clone(),
                reason: reason.clone(),
                left_behind: false,
            })
            .collect(),
        ..Default::default()
    };
    let mut assets: Vec<&Asset> = library
        .assets
        .iter()
        .filter(|a| selected(a, &options.selection))
        .collect();
    // A stable order, so the same library always gets the same names.
    assets.sort_by(|a, b| (a.created, &a.original_path).cmp(&(b.created, &b.original_path)));
    for asset in assets {
        report.assets_selected += 1;
        if asset.cloud_only {
            report.cloud_only.push(asset.original_path.clone());
        }
        let mut todo = Vec::new();
        for (at, resource) in asset.resources.iter().enumerate() {
            if options.selection.skip_edited && resource.role == Role::Render {
                continue;
            }
            match index.find(&resource.file.path, resource.file.size, resource.file.mtime_ns) {
                Some(_) => report.already_there += 1,
                None => todo.push(at),
            }
        }
        if options.sidecar == SidecarFormat::Xmp {
            plan_sidecar(asset, index, options, &todo, &mut report);
        }
        plan_links(asset, namer, index, options, &todo, &mut report);
        if todo.is_empty() {
            continue;
        }
        let folders = folders_for(asset, options.layout);
        let mut named: Vec<(String, Vec<(usize, String)>)> = Vec::with_capacity(folders.len());
        for folder in folders {
            let names = namer.claim(asset, &folder, options.selection.skip_edited, true);
            named.push((folder, names));
        }
        let name_in = |(folder, names): &(String, Vec<(usize, String)>), at: usize| {
            names
                .iter()
                .find(|(named, _)| *named == at)
                .map(|(_, name)| join_rel(folder, name))
        };
        for at in todo {
            let resource = &asset.resources[at];
            let Some(dest_path) = named.first().and_then(|n| name_in(n, at)) else {
                continue;
            };
            report.planned.push(Planned {
                asset_id: asset.id.clone(),
                role: resource.role,
                device_path: resource.file.path.clone(),
                size: resource.file.size,
                device_mtime_ns: resource.file.mtime_ns,
                capture_date: asset.created,
                dest_path,
                links: named.iter().skip(1).filter_map(|n| name_in(n, at)).collect(),
            });
        }
    }
    report
}

/// The album folders (album layout) that should hold `asset` but hold none of its
/// exported original: albums it joined on the phone after it was exported.
fn missing_album_folders(asset: &Asset, index: &ManifestIndex, layout: Layout) -> Vec<String> {
    if layout != Layout::Album {
        return Vec::new();
    }
    let Some(original) = asset.resources.iter().find(|r| r.role == Role::Original) else {
        return Vec::new();
    };
    let file = &original.file;
    let dests = index.dests_of(&file.path, file.size, file.mtime_ns);
    if dests.is_empty() {
        return Vec::new();
    }
    let held: Vec<&str> = dests
        .iter()
        .map(|d| d.rsplit_once('/').map_or("", |(f, _)| f))
        .collect();
    folders_for(asset, layout)
        .into_iter()
        .filter(|folder| !held.iter().any(|h| h.eq_ignore_ascii_case(folder)))
        .collect()
}

/// Plans links into the album folders `asset` joined since its files were exported, and
/// their sidecars.
fn plan_links(
    asset: &Asset,
    namer: &mut Namer,
    index: &ManifestIndex,
    options: &ExportOptions,
    todo: &[usize],
    report: &mut ExportReport,
) {
    let mut originals = Vec::new();
    for folder in missing_album_folders(asset, index, options.layout) {
        for (at, name) in namer.claim(asset, &folder, options.selection.skip_edited, true) {
            let resource = &asset.resources[at];
            let file = &resource.file;
            // A file new in this run is copied (and linked) the usual way.
            let Some(from) = index.dests_of(&file.path, file.size, file.mtime_ns).first().copied() else {
                continue;
            };
            if todo.contains(&at) {
                continue;
            }
            let to = join_rel(&folder, &name);
            if resource.role == Role::Original {
                originals.push(to.clone());
            }
            report.links_planned.push(PlannedLink {
                asset_id: asset.id.clone(),
                role: resource.role,
                device_path: file.path.clone(),
                size: file.size,
                device_mtime_ns: file.mtime_ns,
                capture_date: asset.created,
                from: from.to_string(),
                to,
            });
        }
    }
    if options.sidecar == SidecarFormat::Xmp && !originals.is_empty() {
        let path = asset
            .resources
            .iter()
            .find(|r| r.role == Role::Original)
            .map(|r| r.file.path.clone());
        if let Some(path) = path {
            report.sidecars_planned.push(PlannedSidecar {
                asset_id: asset.id.clone(),
                text: sidecar_text(asset, &path, options),
                original: path,
                beside: originals,
            });
        }
    }
}

/// The sidecar text of `asset` and the recorded sidecars that differ from it (beside
/// each place its original was exported to), when any does; `None` when all are current
/// or the asset has no original on the phone.
fn stale_sidecars(asset: &Asset, index: &ManifestIndex, options: &ExportOptions) -> Option<(String, Vec<String>)> {
    let original = asset.resources.iter().find(|r| r.role == Role::Original)?;
    let file = &original.file;
    let text = sidecar_text(asset, &file.path, options);
    let sha = xmp::sha256_hex(&text);
    let stale: Vec<String> = index
        .dests_of(&file.path, file.size, file.mtime_ns)
        .into_iter()
        .filter(|dest| index.same_content(&xmp::sidecar_path(dest), &sha) != Some(true))
        .map(str::to_string)
        .collect();
    (!stale.is_empty()).then_some((text, stale))
}

fn sidecar_text(asset: &Asset, original: &str, options: &ExportOptions) -> String {
    let extension = crate::fs::names::split_ext(file_name(original)).1.to_ascii_uppercase();
    xmp::render(asset, &extension, options.album_keywords)
}

/// Plans the XMP sidecar of `asset`: with its original when that is copied now
/// (`todo`), or, when the original is already there, wherever the recorded sidecar's
/// content differs from what the phone's metadata gives now (only the sidecar is written,
/// the photo is not read again).
fn plan_sidecar(
    asset: &Asset,
    index: &ManifestIndex,
    options: &ExportOptions,
    todo: &[usize],
    report: &mut ExportReport,
) {
    let Some(original) = asset.resources.iter().position(|r| r.role == Role::Original) else {
        return;
    };
    let path = &asset.resources[original].file.path;
    let (text, beside) = if todo.contains(&original) {
        (sidecar_text(asset, path, options), Vec::new())
    } else {
        match stale_sidecars(asset, index, options) {
            Some(stale) => stale,
            None => return,
        }
    };
    report.sidecars_planned.push(PlannedSidecar {
        asset_id: asset.id.clone(),
        original: path.clone(),
        beside,
        text,
    });
}

#[cfg(test)]
mod left_behind_tests {
    use super::*;

    #[test]
    fn the_sentence_names_only_what_happened() {
        let mut report = ExportReport::default();
        assert_eq!(report.left_behind_sentence(), None);
        report.cloud_only = vec!["a".into(); 6];
        assert_eq!(
            report.left_behind_sentence().as_deref(),
            Some("6 originals are only in iCloud")
        );
        report.failed = vec![("b".into(), "gone".into())];
        report.skipped.push(Skip {
            path: "c".into(),
            reason: "unreadable".into(),
            left_behind: true,
        });
        assert_eq!(
            report.left_behind_sentence().as_deref(),
            Some("1 file failed, 1 file could not be read and 6 originals are only in iCloud; run again to retry")
        );
    }
}

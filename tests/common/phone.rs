//! Starting the simulated iPhone with a photo library and pairing a [`Home`] with it.

use std::path::Path;
use std::process::Output;

use fake_iphone::library::{Asset, AssetKind, LibrarySpec, make_library};
use fake_iphone::{FakeIphone, PhoneConfig, RunningFake};

use super::{Home, UDID, assert_success, lifeboat, sha_file};

/// A running simulator whose one phone (`UDID`) serves a generated library, and a home
/// for lifeboat.
pub struct Phone {
    pub fake: RunningFake,
    pub home: Home,
    pub media: tempfile::TempDir,
    /// What the library generator made.
    pub assets: Vec<Asset>,
}

impl Phone {
    /// Makes `spec` in a new media folder and starts the phone on it, set up further by
    /// `tune` (a name, a link model, faults: `|c| c.link(link)`, or `|c| c` for none). The
    /// home is not paired.
    pub fn start(spec: LibrarySpec, tune: impl FnOnce(PhoneConfig) -> PhoneConfig) -> Phone {
        let (media, assets) = library(&spec);
        let fake = start_fake(media.path(), tune);
        Phone {
            fake,
            home: Home::new(),
            media,
            assets,
        }
    }

    /// The fileIDs of the files the phone backs up now in `domain`.
    pub fn backup_file_ids(&self, domain: &str) -> Vec<String> {
        self.fake
            .backup_files(None)
            .iter()
            .filter(|f| f.domain == domain)
            .map(|f| f.file_id())
            .collect()
    }

    /// [`Phone::start`], then `lifeboat pair`.
    pub fn paired(spec: LibrarySpec, tune: impl FnOnce(PhoneConfig) -> PhoneConfig) -> Phone {
        let phone = Phone::start(spec, tune);
        phone.pair();
        phone
    }

    /// `lifeboat pair`, which must succeed.
    pub fn pair(&self) {
        assert_success(&self.lifeboat(&["pair"]), "pair");
    }

    /// Runs lifeboat against this phone with this home.
    pub fn lifeboat(&self, args: &[&str]) -> Output {
        lifeboat(&self.fake, &self.home, args)
    }

    pub fn media(&self) -> &Path {
        self.media.path()
    }

    /// See [`expected_export`].
    pub fn expected_export(&self) -> Vec<String> {
        expected_export(self.media(), &self.assets)
    }
}

/// A new media folder holding the library `spec`, and what was made.
pub fn library(spec: &LibrarySpec) -> (tempfile::TempDir, Vec<Asset>) {
    let media = tempfile::tempdir().expect("tempdir");
    let assets = make_library(media.path(), spec).expect("make_library");
    (media, assets)
}

/// The simulator with one phone, `UDID`, serving `media`, set up further by `tune`.
pub fn start_fake(media: &Path, tune: impl FnOnce(PhoneConfig) -> PhoneConfig) -> RunningFake {
    FakeIphone::new()
        .phone(tune(PhoneConfig::new(UDID, media)))
        .start()
        .expect("start fake-iphone")
}

/// A new home, paired with `fake`'s phone by `lifeboat pair`.
pub fn paired_home(fake: &RunningFake) -> Home {
    let home = Home::new();
    assert_success(&lifeboat(fake, &home, &["pair"]), "pair");
    home
}

/// What an export of the library must hold: the SHA-256 of every file (on the phone) of
/// every asset that is not trashed, sorted.
pub fn expected_export(media: &Path, assets: &[Asset]) -> Vec<String> {
    let mut out: Vec<String> = assets
        .iter()
        .filter(|a| a.kind != AssetKind::Trashed)
        .flat_map(|a| a.files.iter().map(|f| sha_file(&media.join(f))))
        .collect();
    out.sort();
    out
}

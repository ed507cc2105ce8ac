//! Named photo libraries for [`fake_iphone::library::make_library`]. Each returns a whole
//! spec; a test that needs one field different says so with struct update syntax:
//! `LibrarySpec { truncated: 1, ..presets::small("17.5") }`.

use fake_iphone::library::LibrarySpec;

/// `photos` plain photos and nothing else.
pub fn photos_only(ios: &str, photos: usize) -> LibrarySpec {
    LibrarySpec {
        ios: ios.into(),
        photos,
        ..Default::default()
    }
}

/// A dozen photos with a few videos, Live Photos, edits and iCloud originals, all of them
/// on the phone, of minimal size.
pub fn small(ios: &str) -> LibrarySpec {
    LibrarySpec {
        ios: ios.into(),
        photos: 12,
        videos: 2,
        live: 2,
        edited: 2,
        cpl: 2,
        ..Default::default()
    }
}

/// One video, one Live Photo, one edit, one iCloud original and one album beside ten
/// photos: every kind whose files are on the phone, nothing cloud-only, trashed or hidden.
pub fn one_of_each(ios: &str) -> LibrarySpec {
    LibrarySpec {
        ios: ios.into(),
        photos: 10,
        videos: 1,
        live: 1,
        edited: 1,
        cpl: 1,
        albums: 1,
        ..Default::default()
    }
}

/// Every kind an export meets, several of most: cloud-only originals (not on disk),
/// trashed and hidden assets and albums too.
pub fn every_kind(ios: &str) -> LibrarySpec {
    LibrarySpec {
        ios: ios.into(),
        photos: 15,
        videos: 2,
        live: 3,
        edited: 2,
        cpl: 3,
        cloud_only: 2,
        trashed: 2,
        hidden: 1,
        albums: 2,
        shared: 0,
        bursts: 0,
        truncated: 0,
        photo_padding: 20_000,
        video_padding: 60_000,
    }
}

/// What people keep beside their photos: iCloud originals under UUID names, shared albums,
/// bursts, albums (some photos in two), and metadata on many assets (make-library spreads
/// titles, captions, keywords, people, favorites, places and time zones over them).
pub fn kept(ios: &str) -> LibrarySpec {
    LibrarySpec {
        ios: ios.into(),
        photos: 12,
        videos: 1,
        live: 1,
        edited: 1,
        cpl: 3,
        albums: 2,
        shared: 3,
        bursts: 1,
        ..Default::default()
    }
}

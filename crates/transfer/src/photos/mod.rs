//! The phone's photos: the library model (Photos.sqlite joined with DCIM, CPLAssets and
//! Mutations), the export (plan, names, the copy pipeline, sums), the one export job both
//! `export-photos` and the nightly run use, and pulling any folder off the phone.

pub mod export;
pub mod job;
pub mod library;
pub mod links;
pub mod load;
pub mod meta;
pub mod naming;
pub mod plan;
pub mod pull;
mod sidecars;
mod sink;
pub mod sums;
pub mod walk;
pub mod xmp;

/// What to do about originals that are only in iCloud, in the words of the phone's settings.
pub const ICLOUD_ADVICE: &str = "On the iPhone, turn on Settings > Photos > Download and Keep Originals, keep it \
     plugged in and on Wi-Fi until the photos have downloaded, then run this again.";

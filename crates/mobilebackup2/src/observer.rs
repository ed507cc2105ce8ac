//! What a backup run reports while it goes (docs/backup.md §1.8): the device's overall
//! progress, the byte totals of each upload batch, and each file received.

use crate::path::DevicePath;

/// The part of the run the device is in, as its messages show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading the earlier backup (downloads, folder listings).
    Checking,
    /// Sending files.
    Receiving,
    /// Moving the snapshot into place.
    Moving,
    /// Removing what the new backup no longer has.
    Removing,
}

impl Phase {
    pub fn describe(self) -> &'static str {
        match self {
            Phase::Checking => "checking the earlier backup",
            Phase::Receiving => "receiving files",
            Phase::Moving => "moving the new backup into place",
            Phase::Removing => "removing what the new backup no longer has",
        }
    }
}

/// Called by the session as the device works. Every method has an empty default.
pub trait Observer {
    fn phase(&mut self, _phase: Phase) {}
    /// The device's overall progress, 0 to 100.
    fn progress(&mut self, _percent: f64) {}
    /// An upload batch begins; the device says it carries `total_bytes`.
    fn batch(&mut self, _total_bytes: u64) {}
    /// Bytes of a file arrived.
    fn received(&mut self, _bytes: u64) {}
    /// A file arrived whole.
    fn file_done(&mut self, _path: &DevicePath, _size: u64) {}
    /// Something the report will list (a file the device could not read, a refused path).
    fn warning(&mut self, _text: &str) {}
}

/// Watching nothing.
impl Observer for () {}

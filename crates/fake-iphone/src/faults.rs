//! The fault model every simulated service shares: one-shot faults placed at positions in the
//! bytes a phone serves (cut the line, unplug, stall, flip a bit), and hostile names in
//! listings. [`FaultModel`] decides; a service applies the decision to its replies, or lets
//! [`LinkedStream`] apply it (and the link model) to everything it writes.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use crate::link::{Link, Pacer};
use crate::phone::PhoneStats;

/// Faults to inject, each firing once per simulator run. Byte positions count the bytes this
/// phone has served (for AFC, the file bytes of FileRefRead data; for a backup, the file
/// bytes it uploads, docs/backup.md §1.6), across connections.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Cut the connection in the middle of the reply that crosses this many bytes.
    pub drop_after: Option<u64>,
    /// Unplug the phone when this many bytes have been served.
    pub detach_after: Option<u64>,
    /// Stop answering (the connection stays open) when this many bytes have been served.
    pub stall_after: Option<u64>,
    /// Flip a bit of the byte served at this position.
    pub corrupt_at: Option<u64>,
    /// Report the size of files whose path contains `.0` wrong by `.1` bytes.
    pub wrong_size: Option<(String, i64)>,
    /// Add hostile names to listings of DCIM folders: `..`, `/`, control characters, a
    /// 300-byte name, a case twin, and a symlink pointing out of the tree.
    pub hostile_listing: bool,
}

/// The listed name that is a symlink pointing out of the tree, with `hostile_listing`.
pub const HOSTILE_LINK: &str = "IMG_LINK.JPG";
/// Names a hostile device lists (a NUL cannot be inside a NUL-separated name; the others can).
const HOSTILE_NAMES: &[&str] = &[
    "../../../escape.JPG",
    "sub/dir.JPG",
    "ctrl\u{1}\u{7f}.JPG",
    "..",
    "new\nline.JPG",
    HOSTILE_LINK,
];

/// How a fault ends a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Send part of the reply, its first `offset` bytes of payload in, then cut the line.
    DropAt(u64),
    /// Unplug the phone.
    Detach,
    /// Never answer again; the connection stays open.
    Stall,
}

/// What the faults do to `len` bytes about to be served.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hit {
    /// Flip a bit of the byte at this offset within them.
    pub corrupt_at: Option<u64>,
    pub cut: Option<Cut>,
}

/// A phone's faults and the counter their positions refer to.
#[derive(Debug, Clone)]
pub struct FaultModel {
    faults: Faults,
    stats: Arc<PhoneStats>,
    /// Count backup bytes (mobilebackup2 uploads) rather than AFC file bytes.
    backup: bool,
}

impl FaultModel {
    pub fn new(faults: Faults, stats: Arc<PhoneStats>) -> FaultModel {
        FaultModel {
            faults,
            stats,
            backup: false,
        }
    }

    /// The same faults, placed in the file bytes a backup uploads (mobilebackup2).
    pub fn for_backup(faults: Faults, stats: Arc<PhoneStats>) -> FaultModel {
        FaultModel {
            faults,
            stats,
            backup: true,
        }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// Whether a fault may need the served bytes in hand (to change or cut them), rather
    /// than only their count.
    pub fn touches_bytes(&self) -> bool {
        self.faults.corrupt_at.is_some() || self.faults.drop_after.is_some()
    }

    /// Counts `len` bytes served, and says which faults fire on them. A cut by dropping
    /// the line wins over unplugging, which wins over stalling.
    pub fn serve(&self, len: u64) -> Hit {
        let counter = if self.backup {
            &self.stats.backup_bytes_served
        } else {
            &self.stats.file_bytes_served
        };
        let start = counter.fetch_add(len, Ordering::SeqCst);
        let fires = |at: Option<u64>, name| offset_within(at, start, len).filter(|_| self.stats.fire(name));
        let corrupt_at = offset_within(self.faults.corrupt_at, start, len)
            .filter(|&offset| offset < len && self.stats.fire("corrupt"));
        let cut = if let Some(offset) = fires(self.faults.drop_after, "drop") {
            Some(Cut::DropAt(offset))
        } else if fires(self.faults.detach_after, "detach").is_some() {
            Some(Cut::Detach)
        } else if fires(self.faults.stall_after, "stall").is_some() {
            Some(Cut::Stall)
        } else {
            None
        };
        Hit { corrupt_at, cut }
    }

    /// Adds the hostile names to a listing of `path`, when the phone is set to list them.
    pub fn add_hostile_names(&self, path: &str, names: &mut Vec<String>) {
        if !self.faults.hostile_listing || !path.contains("DCIM") {
            return;
        }
        names.extend(HOSTILE_NAMES.iter().map(|n| n.to_string()));
        names.push(format!("{}.JPG", "A".repeat(300)));
        if let Some(twin) = names.iter().find(|n| n.ends_with(".HEIC")).map(|n| n.to_lowercase()) {
            names.push(twin);
        }
    }

    /// Whether `path` is the hostile symlink of a hostile listing.
    pub fn is_hostile_link(&self, path: &str) -> bool {
        self.faults.hostile_listing && path.ends_with(HOSTILE_LINK)
    }
}

/// Where a fault position `at` falls among the `len` bytes served from `start`, if it
/// does. An empty read counts as covering `start`, so a fault placed at the very end of the
/// served bytes still fires on the read that finds the end.
fn offset_within(at: Option<u64>, start: u64, len: u64) -> Option<u64> {
    at.filter(|&at| at >= start && at < start + len.max(1))
        .map(|at| at - start)
}

/// A service connection with the link and fault models applied to what the phone writes:
/// each write is one reply, sent no earlier than the latency after the last request began
/// ([`LinkedStream::request_arrived`]) and no faster than the bandwidth; its bytes count
/// towards the fault positions. A service that reads and writes through this needs no
/// model of its own.
pub struct LinkedStream<S> {
    inner: S,
    link: Link,
    pacer: Pacer,
    faults: FaultModel,
    arrived: Instant,
    stalled: bool,
    /// Unplugs the phone (the stream cannot reach the simulator's state itself).
    detach: Box<dyn FnMut() + Send>,
}

impl<S: Read + Write> LinkedStream<S> {
    pub fn new(inner: S, link: Link, faults: FaultModel, detach: Box<dyn FnMut() + Send>) -> LinkedStream<S> {
        LinkedStream {
            inner,
            link,
            pacer: Pacer::new(link),
            faults,
            arrived: Instant::now(),
            stalled: false,
            detach,
        }
    }

    /// Marks the start of a request: the next reply waits the link's latency from now.
    pub fn request_arrived(&mut self) {
        self.arrived = Instant::now();
    }

    pub fn get_ref(&self) -> &S {
        &self.inner
    }
}

fn cut_off() -> io::Error {
    io::Error::new(io::ErrorKind::ConnectionAborted, "fault injected: the line was cut")
}

impl<S: Read + Write> Read for LinkedStream<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf)
    }
}

impl<S: Read + Write> Write for LinkedStream<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.stalled {
            // A hung service answers nothing, and says nothing about it.
            return Ok(buf.len());
        }
        self.pacer.wait(self.link.due(self.arrived), buf.len() as u64);
        let hit = self.faults.serve(buf.len() as u64);
        let mut bytes = buf.to_vec();
        if let Some(offset) = hit.corrupt_at {
            bytes[offset as usize] ^= 0x10;
        }
        match hit.cut {
            None => self.inner.write_all(&bytes)?,
            Some(Cut::DropAt(offset)) => {
                self.inner.write_all(&bytes[..offset as usize / 2])?;
                return Err(cut_off());
            }
            Some(Cut::Detach) => {
                (self.detach)();
                return Err(cut_off());
            }
            Some(Cut::Stall) => self.stalled = true,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(faults: Faults) -> FaultModel {
        FaultModel::new(faults, Arc::new(PhoneStats::default()))
    }

    #[test]
    fn faults_fire_once_where_they_are_placed() {
        let m = model(Faults {
            corrupt_at: Some(15),
            detach_after: Some(25),
            ..Faults::default()
        });
        assert_eq!(m.serve(10), Hit::default());
        assert_eq!(
            m.serve(10),
            Hit {
                corrupt_at: Some(5),
                cut: None
            }
        );
        assert_eq!(m.serve(10).cut, Some(Cut::Detach));
        assert_eq!(m.serve(10), Hit::default(), "one shot");
        let drop_wins = model(Faults {
            drop_after: Some(0),
            stall_after: Some(0),
            ..Faults::default()
        });
        assert_eq!(
            drop_wins.serve(0).cut,
            Some(Cut::DropAt(0)),
            "an empty read covers its start"
        );
    }

    #[test]
    fn a_linked_stream_applies_faults_to_writes() {
        let mut out = Vec::new();
        {
            let faults = model(Faults {
                corrupt_at: Some(1),
                stall_after: Some(4),
                ..Faults::default()
            });
            let mut stream = LinkedStream::new(io::Cursor::new(&mut out), Link::default(), faults, Box::new(|| {}));
            stream.write_all(b"abc").unwrap();
            stream.write_all(b"def").unwrap();
            stream.write_all(b"ghi").unwrap();
        }
        assert_eq!(
            out, b"a\x72c",
            "b flipped; the reply crossing byte 4 and all after it withheld"
        );
    }
}

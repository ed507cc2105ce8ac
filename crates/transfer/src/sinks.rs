//! Receivers for fetched files that more than one command needs: atomic files hashed as
//! they are written, and digests of files that are not kept.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::Path;

use afc::client::{AfcError, FetchSink};
use sha2::{Digest, Sha256};

use crate::fs::AtomicFile;

/// Files being written, several at once (the fetch opens later files while earlier ones
/// are still arriving), each hashed as its bytes pass.
#[derive(Default)]
pub struct HashedFiles {
    open: HashMap<usize, (AtomicFile, Sha256)>,
}

impl HashedFiles {
    pub fn begin(&mut self, index: usize, target: &Path) -> io::Result<()> {
        self.open.insert(index, (AtomicFile::create(target)?, Sha256::new()));
        Ok(())
    }

    pub fn write(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        let (file, hasher) = self
            .open
            .get_mut(&index)
            .ok_or_else(|| io::Error::other("data for a file that is not open"))?;
        file.write_all(bytes)?;
        hasher.update(bytes);
        Ok(())
    }

    /// The file, still uncommitted, and its SHA-256. Dropping the file removes it.
    pub fn finish(&mut self, index: usize) -> Option<(AtomicFile, [u8; 32])> {
        self.open
            .remove(&index)
            .map(|(file, hasher)| (file, hasher.finalize().into()))
    }
}

/// SHA-256 of fetched files, which are not kept.
#[derive(Default)]
pub struct Digests {
    hashers: HashMap<usize, Sha256>,
    /// By fetch index: the digest, or why the file could not be read.
    pub done: HashMap<usize, Result<[u8; 32], String>>,
}

impl FetchSink for Digests {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        self.hashers.insert(index, Sha256::new());
        Ok(())
    }

    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        if let Some(hasher) = self.hashers.get_mut(&index) {
            hasher.update(bytes);
        }
        Ok(())
    }

    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        let hasher = self.hashers.remove(&index);
        let result = match (outcome, hasher) {
            (Ok(_), Some(hasher)) => Ok(hasher.finalize().into()),
            (Err(e), _) => Err(e.to_string()),
            (Ok(_), None) => Err("the file was never opened".into()),
        };
        self.done.insert(index, result);
        Ok(())
    }
}

pub fn hex(digest: &[u8]) -> String {
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

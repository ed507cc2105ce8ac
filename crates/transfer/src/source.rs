//! Where files come from: the phone over AFC, or a device backup folder
//! ([`crate::finder::read`]). The photo export (walk, Photos.sqlite, the copy pipeline) and
//! `files` (listing, pulling) read through this trait alone, so planning, names, the
//! manifest and the sums are one implementation whichever the source.
//!
//! Paths are `/`-separated and relative to the source's root (the phone's media folder,
//! or a backup's domains). Errors are [`AfcError`]s, the vocabulary the pipeline already
//! speaks: a path that is not there is `Status` with `ObjectNotFound`, a file a backup
//! cannot give whole is `Unreadable`.

use std::io::{self, Read, Write};

use afc::client::{AfcClient, AfcError, FetchSink, RemoteFile};
use afc::kv::FileInfo;

pub trait FileSource {
    /// The names in a folder.
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, AfcError>;
    fn file_info(&mut self, path: &str) -> Result<FileInfo, AfcError>;
    /// [`FileSource::file_info`] for many paths; the outer error stops everything (a lost
    /// connection), the inner ones are per path.
    fn file_infos(&mut self, paths: &[String], window: usize) -> Result<Vec<Result<FileInfo, AfcError>>, AfcError>;
    /// Streams `files` into `sink`: `begin`, `data` in order, `end` per file (files may
    /// overlap). A file's own failure goes to `sink.end` and the others go on; an error
    /// returned stops everything (a failing sink is `AfcError::Sink`).
    fn fetch(
        &mut self,
        files: &[RemoteFile],
        chunk: u64,
        window: usize,
        sink: &mut dyn FetchSink,
    ) -> Result<(), AfcError>;
}

/// A `dyn FetchSink` as the `impl FetchSink` the AFC client takes.
struct Forward<'a>(&'a mut dyn FetchSink);

impl FetchSink for Forward<'_> {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        self.0.begin(index)
    }
    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        self.0.data(index, bytes)
    }
    fn data_owned(&mut self, index: usize, bytes: Vec<u8>) -> io::Result<()> {
        self.0.data_owned(index, bytes)
    }
    fn spare(&mut self) -> Option<Vec<u8>> {
        self.0.spare()
    }
    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        self.0.end(index, outcome)
    }
}

impl<S: Read + Write> FileSource for AfcClient<S> {
    fn list_dir(&mut self, path: &str) -> Result<Vec<String>, AfcError> {
        AfcClient::list_dir(self, path)
    }

    fn file_info(&mut self, path: &str) -> Result<FileInfo, AfcError> {
        AfcClient::file_info(self, path)
    }

    fn file_infos(&mut self, paths: &[String], window: usize) -> Result<Vec<Result<FileInfo, AfcError>>, AfcError> {
        AfcClient::file_infos(self, paths, window)
    }

    fn fetch(
        &mut self,
        files: &[RemoteFile],
        chunk: u64,
        window: usize,
        sink: &mut dyn FetchSink,
    ) -> Result<(), AfcError> {
        AfcClient::fetch(self, files, chunk, window, &mut Forward(sink))
    }
}

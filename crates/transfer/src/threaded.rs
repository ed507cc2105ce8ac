//! A fetch in three stages on three threads: the reader keeps the phone busy, a second
//! thread computes each file's SHA-256, a third writes to disk. Hashing alone takes about as
//! long as reading the link and writing together on a fast machine, so giving it a thread of
//! its own is what lets a loopback or USB 3 link run at the speed of the slowest stage rather
//! than of their sum. The queues between the stages are short, so memory stays bounded by a
//! few read chunks whatever the file sizes.

use std::collections::HashMap;
use std::io;
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use crate::source::FileSource;
use afc::client::{AfcError, FetchSink, RemoteFile};
use sha2::{Digest, Sha256};

/// Messages in each queue; with 1 MiB reads, at most this many MiB wait for each stage.
const QUEUE: usize = 8;

/// Receives fetched files, with each one's SHA-256 computed on the way.
pub trait HashedSink {
    fn begin(&mut self, index: usize) -> io::Result<()>;
    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()>;
    /// `Ok((size, sha256))` when every byte arrived; the digest is of the bytes `data` got.
    fn end(&mut self, index: usize, outcome: Result<(u64, [u8; 32]), AfcError>) -> io::Result<()>;
}

enum Message<End> {
    Begin(usize),
    Data(usize, Vec<u8>),
    End(usize, End),
}

type Fetched = Message<Result<u64, AfcError>>;
type Hashed = Message<Result<(u64, [u8; 32]), AfcError>>;

/// The reader's side: passes each call on, owning the bytes, without copying them, and
/// takes the emptied buffers back.
struct Forward {
    queue: SyncSender<Fetched>,
    returned: Receiver<Vec<u8>>,
}

fn stopped() -> io::Error {
    io::Error::other("the writer stopped")
}

impl FetchSink for Forward {
    fn begin(&mut self, index: usize) -> io::Result<()> {
        self.queue.send(Message::Begin(index)).map_err(|_| stopped())
    }

    fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
        self.data_owned(index, bytes.to_vec())
    }

    fn data_owned(&mut self, index: usize, bytes: Vec<u8>) -> io::Result<()> {
        self.queue.send(Message::Data(index, bytes)).map_err(|_| stopped())
    }

    fn spare(&mut self) -> Option<Vec<u8>> {
        self.returned.try_recv().ok()
    }

    fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
        self.queue.send(Message::End(index, outcome)).map_err(|_| stopped())
    }
}

/// The middle stage: hashes each file's bytes and passes everything on. Stops when either
/// queue closes: the reader finished, or the writer failed.
fn hash(queue: Receiver<Fetched>, next: SyncSender<Hashed>) {
    let mut hashers: HashMap<usize, Sha256> = HashMap::new();
    for message in queue {
        let forwarded = match message {
            Message::Begin(index) => {
                hashers.insert(index, Sha256::new());
                Message::Begin(index)
            }
            Message::Data(index, bytes) => {
                hashers.entry(index).or_default().update(&bytes);
                Message::Data(index, bytes)
            }
            Message::End(index, outcome) => {
                let digest: [u8; 32] = hashers.remove(&index).unwrap_or_default().finalize().into();
                Message::End(index, outcome.map(|size| (size, digest)))
            }
        };
        if next.send(forwarded).is_err() {
            return;
        }
    }
}

/// The last stage: runs the real sink until the queue closes or the sink fails, and says
/// which file it was working on when it failed.
fn write<S: HashedSink>(
    queue: Receiver<Hashed>,
    returned: Sender<Vec<u8>>,
    sink: &mut S,
) -> Result<(), (usize, io::Error)> {
    for message in queue {
        match message {
            Message::Begin(index) => sink.begin(index).map_err(|e| (index, e))?,
            Message::Data(index, bytes) => {
                sink.data(index, &bytes).map_err(|e| (index, e))?;
                // The reader may have finished; then the buffer is simply freed.
                let _ = returned.send(bytes);
            }
            Message::End(index, outcome) => sink.end(index, outcome).map_err(|e| (index, e))?,
        }
    }
    Ok(())
}

/// [`FileSource::fetch`] with hashing and `sink` each on a thread of their own. The sink gets
/// every call it would have had, in the same order; when it fails, the fetch stops with its
/// error.
pub fn fetch<S: HashedSink + Send>(
    source: &mut dyn FileSource,
    files: &[RemoteFile],
    chunk: u64,
    window: usize,
    sink: &mut S,
) -> Result<(), AfcError> {
    let (sender, to_hash) = sync_channel(QUEUE);
    let (hashed, to_write) = sync_channel(QUEUE);
    let (give_back, returned) = channel();
    let (fetched, written) = std::thread::scope(|scope| {
        scope.spawn(|| hash(to_hash, hashed));
        let writer = scope.spawn(|| write(to_write, give_back, sink));
        let mut forward = Forward {
            queue: sender,
            returned,
        };
        let fetched = source.fetch(files, chunk, window, &mut forward);
        // Closing the first queue lets the later stages finish what is queued and return.
        drop(forward);
        let written = writer
            .join()
            .unwrap_or_else(|_| Err((usize::MAX, io::Error::other("the writer thread panicked"))));
        (fetched, written)
    });
    // The writer's own error explains a fetch that stopped because the writer had.
    if let Err((index, source)) = written {
        let path = files.get(index).map(|f| f.path.clone()).unwrap_or_default();
        return Err(AfcError::Sink { path, source });
    }
    fetched
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records the calls it gets; fails on a chosen file.
    #[derive(Default)]
    struct Record {
        calls: Vec<String>,
        fail_on: Option<usize>,
    }

    impl HashedSink for Record {
        fn begin(&mut self, index: usize) -> io::Result<()> {
            self.calls.push(format!("begin {index}"));
            Ok(())
        }
        fn data(&mut self, index: usize, bytes: &[u8]) -> io::Result<()> {
            if self.fail_on == Some(index) {
                return Err(io::Error::new(io::ErrorKind::StorageFull, "disk full"));
            }
            self.calls.push(format!("data {index} {}", bytes.len()));
            Ok(())
        }
        fn end(&mut self, index: usize, outcome: Result<(u64, [u8; 32]), AfcError>) -> io::Result<()> {
            let digest = outcome.map(|(size, sha)| format!("{size} {:02x}{:02x}", sha[0], sha[1]));
            self.calls
                .push(format!("end {index} {}", digest.unwrap_or_else(|e| e.to_string())));
            Ok(())
        }
    }

    /// What running the stages gave: the writer's result, the buffers that came back to the
    /// reader, and how many messages the reader got to send.
    type Run = (Result<(), (usize, io::ErrorKind)>, usize, usize);

    /// Runs the hashing and writing stages over `messages`, as the reader would send them.
    fn through_stages(messages: Vec<Fetched>, sink: &mut Record) -> Run {
        let (sender, to_hash) = sync_channel(1);
        let (hashed, to_write) = sync_channel(1);
        let (give_back, returned) = channel();
        let mut sent = 0;
        let written = std::thread::scope(|scope| {
            scope.spawn(|| hash(to_hash, hashed));
            let writer = scope.spawn(|| write(to_write, give_back, sink).map_err(|(i, e)| (i, e.kind())));
            // The reader keeps sending until it notices the writer has gone.
            for message in messages {
                if sender.send(message).is_err() {
                    break;
                }
                sent += 1;
            }
            drop(sender);
            writer.join().unwrap()
        });
        (written, returned.try_iter().count(), sent)
    }

    #[test]
    fn the_writer_gets_every_call_in_order_with_the_digest_of_its_bytes() {
        let mut sink = Record::default();
        let messages = vec![
            Message::Begin(0),
            Message::Begin(1),
            Message::Data(0, b"ab".to_vec()),
            Message::Data(0, b"c".to_vec()),
            Message::End(0, Ok(3)),
            Message::End(1, Err(AfcError::Malformed("bad".into()))),
        ];
        let (written, buffers_back, _) = through_stages(messages, &mut sink);
        assert_eq!(written, Ok(()));
        // SHA-256("abc") begins ba 78.
        assert_eq!(
            sink.calls,
            [
                "begin 0",
                "begin 1",
                "data 0 2",
                "data 0 1",
                "end 0 3 ba78",
                "end 1 bad AFC data from the phone: bad"
            ]
        );
        assert_eq!(buffers_back, 2, "every buffer comes back to the reader");
    }

    #[test]
    fn a_failing_writer_stops_the_stages_before_it() {
        let mut sink = Record {
            fail_on: Some(1),
            ..Default::default()
        };
        let mut messages = vec![Message::Begin(1)];
        messages.extend((0..100).map(|_| Message::Data(1, vec![0; 3])));
        let (written, _, sent) = through_stages(messages, &mut sink);
        assert_eq!(written, Err((1, io::ErrorKind::StorageFull)));
        // With queues of one, the reader is stopped a few messages after the failure.
        assert!(sent < 100, "the reader never noticed");
    }
}

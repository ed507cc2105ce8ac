//! A fetch whose sink runs on its own thread: hashing and writing to disk overlap reading
//! from the phone instead of taking turns with it. The queue between them is short, so
//! memory stays bounded by a few read chunks whatever the file sizes.

use std::io::{self, Read, Write};
use std::sync::mpsc::{Receiver, Sender, SyncSender, channel, sync_channel};

use afc::client::{AfcClient, AfcError, FetchSink, RemoteFile};

/// Messages in the queue; with 1 MiB reads, at most this many MiB wait for the writer.
const QUEUE: usize = 8;

enum Message {
    Begin(usize),
    Data(usize, Vec<u8>),
    End(usize, Result<u64, AfcError>),
}

/// The reader's side: passes each call on, owning the bytes, without copying them, and
/// takes the emptied buffers back.
struct Forward {
    queue: SyncSender<Message>,
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

/// The writer's side: runs the real sink until the queue closes or the sink fails, and
/// says which file it was working on when it failed.
fn drain<S: FetchSink>(
    queue: Receiver<Message>,
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

/// [`AfcClient::fetch`] with `sink` on another thread. Every call the sink would have had
/// it still gets, in the same order; when the sink fails, the fetch stops with its error.
pub fn fetch<T: Read + Write, S: FetchSink + Send>(
    afc: &mut AfcClient<T>,
    files: &[RemoteFile],
    chunk: u64,
    window: usize,
    sink: &mut S,
) -> Result<(), AfcError> {
    let (sender, receiver) = sync_channel(QUEUE);
    let (give_back, returned) = channel();
    let (fetched, written) = std::thread::scope(|scope| {
        let writer = scope.spawn(|| drain(receiver, give_back, sink));
        let mut forward = Forward {
            queue: sender,
            returned,
        };
        let fetched = afc.fetch(files, chunk, window, &mut forward);
        // Closing the queue lets the writer finish what is queued and return.
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

    impl FetchSink for Record {
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
        fn end(&mut self, index: usize, outcome: Result<u64, AfcError>) -> io::Result<()> {
            self.calls.push(format!("end {index} {}", outcome.is_ok()));
            Ok(())
        }
    }

    #[test]
    fn the_writer_gets_every_call_in_order_and_its_failure_stops_the_reader() {
        let mut sink = Record::default();
        let (sender, receiver) = sync_channel(QUEUE);
        let (give_back, returned) = channel();
        let mut forward = Forward {
            queue: sender,
            returned,
        };
        forward.begin(0).unwrap();
        forward.data_owned(0, vec![1; 5]).unwrap();
        forward.end(0, Ok(5)).unwrap();
        let Forward { queue, returned } = forward;
        drop(queue);
        drain(receiver, give_back, &mut sink).unwrap();
        assert_eq!(sink.calls, ["begin 0", "data 0 5", "end 0 true"]);
        assert_eq!(returned.try_recv().ok(), Some(vec![1; 5]), "the buffer comes back");

        let mut sink = Record {
            fail_on: Some(1),
            ..Default::default()
        };
        let (sender, receiver) = sync_channel(1);
        let (give_back, returned) = channel();
        let mut forward = Forward {
            queue: sender,
            returned,
        };
        let writer = std::thread::spawn(move || drain(receiver, give_back, &mut sink).map_err(|(i, e)| (i, e.kind())));
        // The reader keeps sending until it notices the writer has gone.
        let mut sent = 0;
        while forward.data_owned(1, vec![0; 3]).is_ok() {
            sent += 1;
            assert!(sent < 100, "the reader never noticed");
        }
        assert_eq!(writer.join().unwrap(), Err((1, io::ErrorKind::StorageFull)));
    }
}

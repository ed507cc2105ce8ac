//! From rusbmux's async byte stream to the blocking stream the rest of lifeboat reads and
//! writes: a Unix socket pair, one end handed out, the other pumped by a task on the USB
//! runtime.
//!
//! What crosses, and what the phone sees (docs/usb-transport.md §2):
//! - Bytes both ways.
//! - The phone closing its side: lifeboat reads end-of-file and can still send.
//! - lifeboat closing its side (`shutdown(Write)`): nothing. rusbmux has no half-close; its
//!   shutdown is a reset, which would throw away the phone's answer. The phone sees the
//!   end when the stream is dropped.
//! - lifeboat dropping the stream: everything written before reaches the phone first (the
//!   last bytes are often TLS's close_notify), then the connection is reset, as rusbmux
//!   closes every connection. The drain is bounded by [`DRAIN`], for a phone that stopped
//!   reading.
//! - An error on the device side: the socket closes, so the blocking side reads
//!   end-of-file and its writes fail instead of waiting forever.

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::stream::UsbmuxStream;

/// Large enough for rusbmux's biggest USB packet payload (48 KiB) to pass in one piece.
const CHUNK: usize = 128 * 1024;

/// How long a dropped stream's last bytes may take to reach the phone.
const DRAIN: Duration = Duration::from_secs(10);

/// The blocking end of a bridge.
#[derive(Debug)]
pub struct BridgedStream {
    socket: UnixStream,
    /// Never sent on: its receiver completes when the last clone of this stream is gone.
    /// From the task's end a half-closed socket and a closed one look alike, and only the
    /// second means nobody will read again.
    alive: Arc<oneshot::Sender<()>>,
}

impl BridgedStream {
    pub(crate) fn socket(&self) -> &UnixStream {
        &self.socket
    }

    pub(crate) fn socket_mut(&mut self) -> &mut UnixStream {
        &mut self.socket
    }

    pub(crate) fn try_clone(&self) -> io::Result<BridgedStream> {
        Ok(BridgedStream {
            socket: self.socket.try_clone()?,
            alive: Arc::clone(&self.alive),
        })
    }
}

/// Starts pumping `device` on `runtime` and returns the blocking end.
pub(crate) fn spawn<S>(runtime: &Handle, device: S) -> io::Result<UsbmuxStream>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (blocking, pumped) = UnixStream::pair()?;
    pumped.set_nonblocking(true)?;
    let pumped = {
        // Registering with the reactor needs the runtime's context, not its thread.
        let _context = runtime.enter();
        tokio::net::UnixStream::from_std(pumped)?
    };
    let (alive, gone) = oneshot::channel();
    runtime.spawn(pump(device, pumped, gone));
    Ok(UsbmuxStream::Usb(BridgedStream {
        socket: blocking,
        alive: Arc::new(alive),
    }))
}

/// Copies until both directions have ended, either fails, or the blocking end is dropped
/// (then after passing on what it wrote last).
async fn pump<S>(device: S, socket: tokio::net::UnixStream, mut gone: oneshot::Receiver<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (device_read, mut device_write) = tokio::io::split(device);
    let (socket_read, mut socket_write) = socket.into_split();
    let mut device_read = BufReader::with_capacity(CHUNK, device_read);
    let mut socket_read = BufReader::with_capacity(CHUNK, socket_read);
    let to_device = to_device(&mut socket_read, &mut device_write);
    let to_socket = to_socket(&mut device_read, &mut socket_write);
    tokio::pin!(to_device, to_socket);
    let (mut to_device_done, mut to_socket_done) = (false, false);
    while !(to_device_done && to_socket_done) {
        tokio::select! {
            result = &mut to_device, if !to_device_done => match result {
                Ok(()) => to_device_done = true,
                Err(_) => break,
            },
            result = &mut to_socket, if !to_socket_done => match result {
                Ok(()) => to_socket_done = true,
                Err(_) => break,
            },
            _ = &mut gone => {
                // The socket still holds what was written last, then its end: pass it on.
                if !to_device_done {
                    let _ = tokio::time::timeout(DRAIN, &mut to_device).await;
                }
                break;
            }
        }
    }
    // Everything is dropped here: the socket closes (the blocking side reads end-of-file,
    // its writes fail) and the device stream goes (rusbmux resets the connection).
}

/// Copies lifeboat's bytes to the phone until lifeboat closes its side. That end is not
/// passed on: the device stream's shutdown is a reset in rusbmux.
async fn to_device<R, W>(from: &mut R, to: &mut W) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    tokio::io::copy_buf(from, to).await?;
    to.flush().await
}

/// Copies the phone's bytes to lifeboat until the phone closes its side, then passes that
/// end on.
async fn to_socket<R, W>(from: &mut R, to: &mut W) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    tokio::io::copy_buf(from, to).await?;
    to.shutdown().await
}

#[cfg(test)]
mod tests {
    //! The bridge with a stand-in for rusbmux's connection that behaves as it does at the
    //! end (a shutdown or a drop is a reset): the test plays the phone on the other end of
    //! a tokio duplex pipe and lifeboat on the blocking socket.

    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::task::{Context, Poll, Waker};

    use tokio::io::{AsyncReadExt, DuplexStream, ReadBuf};

    use super::*;
    use crate::usb::runtime::BackgroundRuntime;

    /// Long enough for a loaded machine, short enough that a hang fails instead of waiting.
    const PATIENCE: Duration = Duration::from_secs(20);

    /// What the phone's side of the connection saw of its end.
    #[derive(Default)]
    struct Seen {
        /// rusbmux sent a reset (its shutdown, or dropping the connection).
        reset: AtomicBool,
        /// While set, writes toward the phone wait, as when its window is full.
        held: AtomicBool,
        waiting: Mutex<Option<Waker>>,
    }

    impl Seen {
        fn release(&self) {
            self.held.store(false, Ordering::SeqCst);
            if let Some(waker) = self.waiting.lock().unwrap().take() {
                waker.wake();
            }
        }

        fn reset(&self) -> bool {
            self.reset.load(Ordering::SeqCst)
        }
    }

    /// rusbmux's connection as the bridge sees it: a reset on shutdown or drop, and after a
    /// reset nothing moves.
    struct LikeRusbmux {
        inner: Option<DuplexStream>,
        seen: Arc<Seen>,
    }

    impl LikeRusbmux {
        fn inner(&mut self) -> io::Result<Pin<&mut DuplexStream>> {
            match self.inner.as_mut() {
                Some(inner) => Ok(Pin::new(inner)),
                None => Err(io::Error::new(io::ErrorKind::NotConnected, "reset")),
            }
        }
    }

    impl Drop for LikeRusbmux {
        fn drop(&mut self) {
            self.seen.reset.store(true, Ordering::SeqCst);
        }
    }

    impl AsyncRead for LikeRusbmux {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            self.inner()?.poll_read(cx, buf)
        }
    }

    impl AsyncWrite for LikeRusbmux {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            if self.seen.held.load(Ordering::SeqCst) {
                *self.seen.waiting.lock().unwrap() = Some(cx.waker().clone());
                if self.seen.held.load(Ordering::SeqCst) {
                    return Poll::Pending;
                }
            }
            self.inner()?.poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.inner()?.poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            // RusbmuxStream::poll_shutdown sends a reset: the phone's reads end.
            self.seen.reset.store(true, Ordering::SeqCst);
            self.inner = None;
            Poll::Ready(Ok(()))
        }
    }

    fn bridged(runtime: &BackgroundRuntime) -> (UsbmuxStream, DuplexStream, Arc<Seen>) {
        let (device, phone) = tokio::io::duplex(64 * 1024);
        let seen = Arc::new(Seen::default());
        let device = LikeRusbmux {
            inner: Some(device),
            seen: Arc::clone(&seen),
        };
        let stream = spawn(runtime.handle(), device).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        (stream, phone, seen)
    }

    /// The phone reads until its end of the connection, with a time limit.
    fn phone_reads_all(runtime: &BackgroundRuntime, mut phone: DuplexStream) -> (DuplexStream, Vec<u8>) {
        runtime
            .run(async move {
                let mut got = Vec::new();
                tokio::time::timeout(PATIENCE, phone.read_to_end(&mut got))
                    .await
                    .expect("the phone saw the end in time")
                    .expect("read");
                (phone, got)
            })
            .unwrap()
    }

    fn phone_reads_exactly(
        runtime: &BackgroundRuntime,
        mut phone: DuplexStream,
        len: usize,
    ) -> (DuplexStream, Vec<u8>) {
        runtime
            .run(async move {
                let mut got = vec![0; len];
                tokio::time::timeout(PATIENCE, phone.read_exact(&mut got))
                    .await
                    .expect("the phone got the bytes in time")
                    .expect("read");
                (phone, got)
            })
            .unwrap()
    }

    fn phone_writes(runtime: &BackgroundRuntime, mut phone: DuplexStream, bytes: &'static [u8]) -> DuplexStream {
        runtime
            .run(async move {
                phone.write_all(bytes).await.unwrap();
                phone
            })
            .unwrap()
    }

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    #[test]
    fn megabytes_cross_both_ways_at_once() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (stream, phone, _) = bridged(&runtime);
        let up = pattern(3 * 1024 * 1024 + 17, 1);
        let down = pattern(5 * 1024 * 1024 + 3, 7);

        // The phone sends its part and reads ours to the end, concurrently.
        let down_copy = down.clone();
        let (done, phone_done) = std::sync::mpsc::channel();
        runtime.handle().spawn(async move {
            let (mut read, mut write) = tokio::io::split(phone);
            let sending = async {
                write.write_all(&down_copy).await?;
                write.shutdown().await
            };
            let mut got = Vec::new();
            let result = tokio::join!(sending, read.read_to_end(&mut got));
            let _ = done.send((result.0.is_ok() && result.1.is_ok(), got));
        });

        let mut writer = stream.try_clone().unwrap();
        let sent = up.clone();
        let writing = std::thread::spawn(move || {
            writer.write_all(&sent).unwrap();
        });
        let mut received = Vec::new();
        let mut reader = stream;
        reader.read_to_end(&mut received).unwrap();
        writing.join().unwrap();
        // The phone sees its end when lifeboat's last handle goes, after every byte.
        drop(reader);
        let (ok, phone_got) = phone_done.recv_timeout(PATIENCE).expect("the phone finished");
        assert!(ok);
        assert!(
            received == down,
            "lifeboat got {} of {} bytes intact",
            received.len(),
            down.len()
        );
        assert!(
            phone_got == up,
            "the phone got {} of {} bytes intact",
            phone_got.len(),
            up.len()
        );
    }

    #[test]
    fn lifeboat_closing_its_side_is_not_a_reset_so_the_phone_can_still_answer() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (mut stream, phone, seen) = bridged(&runtime);
        stream.write_all(b"request").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        // The phone gets the request and no end: rusbmux can only reset.
        let (phone, got) = phone_reads_exactly(&runtime, phone, 7);
        assert_eq!(got, b"request");
        let phone = phone_writes(&runtime, phone, b"answer");
        let mut answer = [0; 6];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"answer");
        assert!(!seen.reset(), "the half-close was passed on as a reset");

        // Dropping the stream is the end the phone sees.
        drop(stream);
        let (_phone, rest) = phone_reads_all(&runtime, phone);
        assert!(rest.is_empty());
        assert!(seen.reset());
    }

    #[test]
    fn the_phone_closing_its_side_is_seen_by_lifeboat_which_can_still_send() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (mut stream, phone, _) = bridged(&runtime);
        let phone = phone_writes(&runtime, phone, b"goodbye");
        let phone = runtime
            .run(async move {
                let mut phone = phone;
                phone.shutdown().await.unwrap();
                phone
            })
            .unwrap();
        let mut got = Vec::new();
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"goodbye", "then end-of-file");

        stream.write_all(b"one more").unwrap();
        drop(stream);
        let (_phone, got) = phone_reads_all(&runtime, phone);
        assert_eq!(got, b"one more");
    }

    #[test]
    fn the_last_bytes_written_before_a_drop_reach_the_phone_before_its_end() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (mut stream, phone, seen) = bridged(&runtime);
        // The phone's window is full: the bytes wait in the bridge when the stream goes.
        seen.held.store(true, Ordering::SeqCst);
        let last = pattern(4096, 3);
        stream.write_all(&last).unwrap();
        drop(stream);
        seen.release();
        let (_phone, got) = phone_reads_all(&runtime, phone);
        assert!(got == last, "the phone got {} of {} bytes", got.len(), last.len());
        assert!(seen.reset(), "then the reset that closes the connection");
    }

    #[test]
    fn dropping_lifeboats_end_lets_go_of_the_phone() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (stream, phone, seen) = bridged(&runtime);
        let clone = stream.try_clone().unwrap();
        // Half-closed first, and the phone silent: only the last handle going can tell the
        // bridge that nobody will read what the phone might still send.
        stream.shutdown(Shutdown::Write).unwrap();
        drop(stream);
        // A turn of the runtime, so the bridge has seen the first handle go.
        runtime.run(async {}).unwrap();
        assert!(!seen.reset(), "a clone is still open");
        drop(clone);
        let (_phone, _) = phone_reads_all(&runtime, phone);
        let deadline = std::time::Instant::now() + PATIENCE;
        while !seen.reset() {
            assert!(
                std::time::Instant::now() < deadline,
                "the bridge still holds the phone's connection"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// A connection that delivers `before` and then fails, reading and writing.
    struct Failing {
        before: Option<&'static [u8]>,
    }

    impl AsyncRead for Failing {
        fn poll_read(mut self: Pin<&mut Self>, _: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            match self.before.take() {
                Some(bytes) => {
                    buf.put_slice(bytes);
                    Poll::Ready(Ok(()))
                }
                None => Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "USB gone"))),
            }
        }
    }

    impl AsyncWrite for Failing {
        fn poll_write(self: Pin<&mut Self>, _: &mut Context<'_>, _: &[u8]) -> Poll<io::Result<usize>> {
            Poll::Ready(Err(io::Error::new(io::ErrorKind::ConnectionReset, "USB gone")))
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[test]
    fn a_failing_connection_ends_the_stream_instead_of_hanging() {
        let runtime = BackgroundRuntime::start().unwrap();
        let mut stream = spawn(
            runtime.handle(),
            Failing {
                before: Some(b"partial"),
            },
        )
        .unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut got = Vec::new();
        // A timeout here would be an error from read_to_end: the test would fail, not hang.
        stream.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"partial");
        let mut failed = None;
        for _ in 0..100 {
            if let Err(e) = stream.write_all(&[0; 4096]) {
                failed = Some(e.kind());
                break;
            }
        }
        // A broken pipe, or a reset if a write landed before the bridge closed (Linux).
        assert!(
            matches!(failed, Some(io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset)),
            "writes fail once the bridge is gone: {failed:?}"
        );
    }

    #[test]
    fn a_failing_write_to_the_phone_ends_the_stream() {
        let runtime = BackgroundRuntime::start().unwrap();
        let mut stream = spawn(runtime.handle(), Failing { before: None }).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        let _ = stream.write_all(b"hello");
        let mut got = Vec::new();
        match stream.read_to_end(&mut got) {
            // End-of-file, or a reset when the bridge closed with "hello" unread (Linux).
            Ok(_) => assert!(got.is_empty()),
            Err(e) => assert_eq!(e.kind(), io::ErrorKind::ConnectionReset, "{e}"),
        }
    }
}

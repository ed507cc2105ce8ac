//! From rusbmux's async byte stream to the blocking stream the rest of lifeboat reads and
//! writes: a Unix socket pair, one end handed out, the other pumped by a task on the USB
//! runtime.
//!
//! What crosses: bytes both ways; a half-close from either side (end of input is passed on
//! as a shutdown of the other side's writing); an error on the device side, which closes
//! the socket so the blocking side reads end-of-file and its writes fail instead of
//! waiting forever. When the last handle on the blocking end is dropped, the task ends and
//! drops the device stream, which closes the connection on the phone.

use std::io;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

use tokio::io::{AsyncBufRead, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::runtime::Handle;
use tokio::sync::oneshot;

use crate::stream::UsbmuxStream;

/// Large enough for rusbmux's biggest USB packet payload (48 KiB) to pass in one piece.
const CHUNK: usize = 128 * 1024;

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

/// Copies until both directions have ended, either fails, or the blocking end is dropped.
async fn pump<S>(device: S, socket: tokio::net::UnixStream, mut gone: oneshot::Receiver<()>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (device_read, mut device_write) = tokio::io::split(device);
    let (socket_read, mut socket_write) = socket.into_split();
    let mut device_read = BufReader::with_capacity(CHUNK, device_read);
    let mut socket_read = BufReader::with_capacity(CHUNK, socket_read);
    let to_device = forward(&mut socket_read, &mut device_write);
    let to_socket = forward(&mut device_read, &mut socket_write);
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
            _ = &mut gone => break,
        }
    }
    // Everything is dropped here: the socket closes (the blocking side reads end-of-file,
    // its writes fail) and the device stream goes (rusbmux resets the connection).
}

/// Copies `from` into `to` until `from` ends, then shuts `to` down to pass the end on.
async fn forward<R, W>(from: &mut R, to: &mut W) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    tokio::io::copy_buf(from, to).await?;
    to.shutdown().await
}

#[cfg(test)]
mod tests {
    //! The bridge with a tokio duplex pipe standing in for rusbmux's connection: the test
    //! plays the phone on one end of the pipe and lifeboat on the blocking socket.

    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use tokio::io::{AsyncReadExt, DuplexStream, ReadBuf};

    use super::*;
    use crate::usb::runtime::BackgroundRuntime;

    /// Long enough for a loaded machine, short enough that a hang fails instead of waiting.
    const PATIENCE: Duration = Duration::from_secs(20);

    fn bridged(runtime: &BackgroundRuntime) -> (UsbmuxStream, DuplexStream) {
        let (device, phone) = tokio::io::duplex(64 * 1024);
        let stream = spawn(runtime.handle(), device).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.set_write_timeout(Some(PATIENCE)).unwrap();
        (stream, phone)
    }

    /// The phone reads until end-of-file, with a time limit.
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
        let (stream, phone) = bridged(&runtime);
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
            writer.shutdown(Shutdown::Write).unwrap();
        });
        let mut received = Vec::new();
        let mut reader = stream;
        reader.read_to_end(&mut received).unwrap();
        writing.join().unwrap();
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
    fn lifeboat_closing_its_side_is_seen_by_the_phone_which_can_still_answer() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (mut stream, phone) = bridged(&runtime);
        stream.write_all(b"request").unwrap();
        stream.shutdown(Shutdown::Write).unwrap();
        let (phone, got) = phone_reads_all(&runtime, phone);
        assert_eq!(got, b"request");

        let phone = phone_writes(&runtime, phone, b"answer");
        drop(phone);
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).unwrap();
        assert_eq!(answer, b"answer");
    }

    #[test]
    fn the_phone_closing_its_side_is_seen_by_lifeboat_which_can_still_send() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (mut stream, phone) = bridged(&runtime);
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
        stream.shutdown(Shutdown::Write).unwrap();
        let (_phone, got) = phone_reads_all(&runtime, phone);
        assert_eq!(got, b"one more");
    }

    /// A connection that notes when the bridge drops it.
    struct Watched {
        inner: DuplexStream,
        dropped: Arc<std::sync::atomic::AtomicBool>,
    }

    impl Drop for Watched {
        fn drop(&mut self) {
            self.dropped.store(true, std::sync::atomic::Ordering::SeqCst);
        }
    }

    impl AsyncRead for Watched {
        fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_read(cx, buf)
        }
    }

    impl AsyncWrite for Watched {
        fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
            Pin::new(&mut self.inner).poll_write(cx, buf)
        }
        fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_flush(cx)
        }
        fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Pin::new(&mut self.inner).poll_shutdown(cx)
        }
    }

    #[test]
    fn dropping_lifeboats_end_lets_go_of_the_phone() {
        let runtime = BackgroundRuntime::start().unwrap();
        let (device, phone) = tokio::io::duplex(64 * 1024);
        let dropped = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let device = Watched {
            inner: device,
            dropped: Arc::clone(&dropped),
        };
        let stream = spawn(runtime.handle(), device).unwrap();
        let clone = stream.try_clone().unwrap();
        // Half-closed first, and the phone silent: only the last handle going can tell the
        // bridge that nobody will read what the phone might still send.
        stream.shutdown(Shutdown::Write).unwrap();
        drop(stream);
        let (_phone, _) = phone_reads_all(&runtime, phone);
        std::thread::sleep(Duration::from_millis(50));
        assert!(
            !dropped.load(std::sync::atomic::Ordering::SeqCst),
            "a clone is still open"
        );
        drop(clone);
        let deadline = std::time::Instant::now() + PATIENCE;
        while !dropped.load(std::sync::atomic::Ordering::SeqCst) {
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

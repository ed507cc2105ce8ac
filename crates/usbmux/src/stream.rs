//! A connected socket to the daemon, Unix or TCP, and after `Connect` a byte pipe to a
//! device port.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream, ToSocketAddrs};
#[cfg(unix)]
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::address::UsbmuxAddress;
use crate::error::{Error, Result};

#[derive(Debug)]
pub enum UsbmuxStream {
    Tcp(TcpStream),
    #[cfg(unix)]
    Unix(UnixStream),
    /// A device port reached through lifeboat's own USB transport.
    #[cfg(all(feature = "usb", target_os = "linux"))]
    Usb(crate::usb::bridge::BridgedStream),
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

impl UsbmuxStream {
    pub fn connect(address: &UsbmuxAddress) -> Result<UsbmuxStream> {
        let unreachable = |source| Error::Unreachable {
            address: address.to_string(),
            source,
        };
        match address {
            #[cfg(unix)]
            UsbmuxAddress::Unix(path) => UnixStream::connect(path).map(UsbmuxStream::Unix).map_err(unreachable),
            #[cfg(not(unix))]
            UsbmuxAddress::Unix(_) => Err(unreachable(io::Error::new(
                io::ErrorKind::Unsupported,
                "UNIX sockets are not available on this platform",
            ))),
            UsbmuxAddress::Tcp { host, port } => {
                let mut last = io::Error::new(io::ErrorKind::NotFound, "host name did not resolve");
                for addr in (host.as_str(), *port).to_socket_addrs().map_err(unreachable)? {
                    match TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT) {
                        Ok(stream) => {
                            // Small request/reply messages: do not let Nagle delay them.
                            stream.set_nodelay(true).ok();
                            return Ok(UsbmuxStream::Tcp(stream));
                        }
                        Err(e) => last = e,
                    }
                }
                Err(unreachable(last))
            }
        }
    }

    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            UsbmuxStream::Tcp(s) => s.set_read_timeout(timeout),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => s.set_read_timeout(timeout),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => s.socket().set_read_timeout(timeout),
        }
    }

    pub fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        match self {
            UsbmuxStream::Tcp(s) => s.set_write_timeout(timeout),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => s.set_write_timeout(timeout),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => s.socket().set_write_timeout(timeout),
        }
    }

    /// The socket itself, for system calls that take one (sendfile); `None` for a bridged
    /// USB connection, which is not a socket of the caller's.
    #[cfg(unix)]
    pub fn as_socket_fd(&self) -> Option<std::os::fd::BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        match self {
            UsbmuxStream::Tcp(s) => Some(s.as_fd()),
            UsbmuxStream::Unix(s) => Some(s.as_fd()),
            #[allow(unreachable_patterns)]
            _ => None,
        }
    }

    pub fn try_clone(&self) -> io::Result<UsbmuxStream> {
        Ok(match self {
            UsbmuxStream::Tcp(s) => UsbmuxStream::Tcp(s.try_clone()?),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => UsbmuxStream::Unix(s.try_clone()?),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => UsbmuxStream::Usb(s.try_clone()?),
        })
    }

    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        match self {
            UsbmuxStream::Tcp(s) => s.shutdown(how),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => s.shutdown(how),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => s.socket().shutdown(how),
        }
    }
}

impl Read for UsbmuxStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            UsbmuxStream::Tcp(s) => s.read(buf),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => s.read(buf),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => s.socket_mut().read(buf),
        }
    }
}

impl Write for UsbmuxStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            UsbmuxStream::Tcp(s) => s.write(buf),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => s.write(buf),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => s.socket_mut().write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            UsbmuxStream::Tcp(s) => s.flush(),
            #[cfg(unix)]
            UsbmuxStream::Unix(s) => s.flush(),
            #[cfg(all(feature = "usb", target_os = "linux"))]
            UsbmuxStream::Usb(s) => s.socket_mut().flush(),
        }
    }
}

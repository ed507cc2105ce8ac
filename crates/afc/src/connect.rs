//! Opening AFC on a phone: a lockdown session, `StartService com.apple.afc`, a usbmux
//! connection to the port it gives, then the session ends as libimobiledevice ends it.

use std::time::Duration;

use lockdown::{LockdownClient, PairRecord, ServiceStream};
use usbmux::{Device, UsbmuxClient};

use crate::client::{AfcClient, REPLY_TIMEOUT};

pub const SERVICE: &str = "com.apple.afc";

pub fn connect(mux: &UsbmuxClient, device: &Device, record: &PairRecord) -> lockdown::Result<AfcClient<ServiceStream>> {
    connect_with_timeout(mux, device, record, REPLY_TIMEOUT)
}

/// [`connect`], with `timeout` as the longest the phone may be silent before a read fails.
pub fn connect_with_timeout(
    mux: &UsbmuxClient,
    device: &Device,
    record: &PairRecord,
    timeout: Duration,
) -> lockdown::Result<AfcClient<ServiceStream>> {
    let mut lockdown = LockdownClient::connect(mux, device)?;
    lockdown.start_session(record)?;
    let service = lockdown.start_service(SERVICE, None)?;
    let stream = lockdown.connect_service(mux, &service)?;
    // The service connection lives on without the session.
    let _ = lockdown.stop_session();
    stream.socket().set_read_timeout(Some(timeout))?;
    stream.socket().set_write_timeout(Some(timeout))?;
    Ok(AfcClient::new(stream).with_reply_timeout(timeout))
}

//! Opening AFC on a phone: lockdown's generic service opener, then an AFC client on the
//! stream it gives.

use std::time::Duration;

use lockdown::{OpenOptions, PairRecord, ServiceStream};
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
    let stream = lockdown::service::open(mux, device, record, SERVICE, OpenOptions::default().timeout(timeout))?;
    Ok(AfcClient::new(stream).with_reply_timeout(timeout))
}

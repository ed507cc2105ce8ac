//! Opening AFC on a phone: a lockdown session, `StartService com.apple.afc`, a usbmux
//! connection to the port it gives, then the session ends as libimobiledevice ends it.

use lockdown::{LockdownClient, PairRecord, ServiceStream};
use usbmux::{Device, UsbmuxClient};

use crate::client::{AfcClient, REPLY_TIMEOUT};

pub const SERVICE: &str = "com.apple.afc";

pub fn connect(mux: &UsbmuxClient, device: &Device, record: &PairRecord) -> lockdown::Result<AfcClient<ServiceStream>> {
    let mut lockdown = LockdownClient::connect(mux, device)?;
    lockdown.start_session(record)?;
    let service = lockdown.start_service(SERVICE, None)?;
    let stream = lockdown.connect_service(mux, &service)?;
    // The service connection lives on without the session.
    let _ = lockdown.stop_session();
    stream.socket().set_read_timeout(Some(REPLY_TIMEOUT))?;
    stream.socket().set_write_timeout(Some(REPLY_TIMEOUT))?;
    Ok(AfcClient::new(stream))
}

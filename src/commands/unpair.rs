//! `lifeboat unpair`: forget the pairing on both sides.

use anyhow::Result;
use lockdown::{LockdownClient, PairRecordStore};
use usbmux::UsbmuxClient;

use crate::connect;

pub fn run(mux: &UsbmuxClient, wanted: Option<&str>) -> Result<()> {
    let device = connect::select(mux, wanted)?;
    let Some(record) = connect::pair_record(mux, &device.udid)? else {
        println!("Not paired with {}; nothing to do.", device.udid);
        return Ok(());
    };
    let on_phone = LockdownClient::connect(mux, &device).and_then(|mut client| client.unpair(&record));
    if let Err(e) = on_phone {
        eprintln!(
            "lifeboat: warning: the iPhone did not confirm forgetting this computer ({e}); forgetting it here anyway."
        );
    }
    PairRecordStore::new(mux).delete(&device.udid)?;
    println!(
        "Unpaired {}; the iPhone will ask to Trust this computer again next time.",
        device.udid
    );
    Ok(())
}

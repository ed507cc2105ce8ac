//! The simulated springboardservices (`com.apple.springboardservices`): backup tools fetch
//! the icons of apps that have a SINF while building Info.plist (docs/backup.md §1.9
//! step 6). `getIconPNGData` answers a tiny PNG, `getIconState` an empty home screen,
//! anything else an error.

use lockdown::codec::{Format, MAX_FRAME};
use lockdown::wire;
use plist::{Dictionary, Value};
use usbmux::UsbmuxStream;

use crate::service::{Service, ServiceContext};

pub struct SpringBoard;

impl Service for SpringBoard {
    fn name(&self) -> &'static str {
        "com.apple.springboardservices"
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        let mut stream = context.linked(stream);
        while let Ok(Some(message)) = wire::read_frame(&mut stream, MAX_FRAME) {
            stream.request_arrived();
            let command = message
                .as_dictionary()
                .and_then(|d| d.get("command"))
                .and_then(Value::as_string)
                .unwrap_or_default()
                .to_string();
            let reply = match command.as_str() {
                "getIconPNGData" | "getHomeScreenWallpaperPNGData" => {
                    let mut d = Dictionary::new();
                    d.insert("pngData".into(), Value::Data(crate::media::PNG.to_vec()));
                    Value::Dictionary(d)
                }
                "getIconState" => Value::Array(vec![Value::Array(Vec::new())]),
                "getInterfaceOrientation" => {
                    let mut d = Dictionary::new();
                    d.insert("interfaceOrientation".into(), 1u64.into());
                    Value::Dictionary(d)
                }
                other => {
                    let mut d = Dictionary::new();
                    d.insert("Error".into(), format!("unknown command {other:?}").into());
                    Value::Dictionary(d)
                }
            };
            if wire::write_frame(&mut stream, &reply, Format::Binary).is_err() {
                return;
            }
        }
    }
}

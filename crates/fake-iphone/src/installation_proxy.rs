//! The simulated installation_proxy (`com.apple.mobile.installation_proxy`): `Browse` lists
//! the user apps whose containers the backup holds (docs/backup.md §5.3), in one
//! `BrowsingApplications` page and a `Complete`. Backup tools put them in Info.plist; the
//! first app carries a SINF and iTunesMetadata, so they also ask springboardservices for its
//! icon (docs/backup.md §1.9 step 6).

use lockdown::codec::{Format, MAX_FRAME};
use lockdown::wire;
use plist::{Dictionary, Value};
use usbmux::UsbmuxStream;

use crate::backup_agent::files::APPS;
use crate::service::{Service, ServiceContext};

pub struct InstallationProxy;

/// The app entries `Browse` lists.
pub fn apps() -> Vec<Value> {
    APPS.iter()
        .enumerate()
        .map(|(i, bundle)| {
            let mut app = Dictionary::new();
            app.insert("CFBundleIdentifier".into(), (*bundle).into());
            app.insert("CFBundleVersion".into(), "1.0".into());
            app.insert("CFBundleDisplayName".into(), format!("App {i}").into());
            app.insert("ApplicationType".into(), "User".into());
            app.insert(
                "Path".into(),
                format!("/private/var/containers/Bundle/Application/{i:08X}/{bundle}.app").into(),
            );
            if i == 0 {
                app.insert("ApplicationSINF".into(), Value::Data(vec![0x53; 64]));
                let mut meta = Vec::new();
                let mut m = Dictionary::new();
                m.insert("itemName".into(), "Notes".into());
                let _ = plist::to_writer_xml(&mut meta, &Value::Dictionary(m));
                app.insert("iTunesMetadata".into(), Value::Data(meta));
            }
            Value::Dictionary(app)
        })
        .collect()
}

impl Service for InstallationProxy {
    fn name(&self) -> &'static str {
        "com.apple.mobile.installation_proxy"
    }

    fn serve(&self, stream: UsbmuxStream, context: ServiceContext) {
        let mut stream = context.linked(stream);
        while let Ok(Some(message)) = wire::read_frame(&mut stream, MAX_FRAME) {
            stream.request_arrived();
            let command = message
                .as_dictionary()
                .and_then(|d| d.get("Command"))
                .and_then(Value::as_string)
                .unwrap_or_default()
                .to_string();
            let replies = match command.as_str() {
                "Browse" | "Lookup" => {
                    let list = apps();
                    let mut page = Dictionary::new();
                    page.insert("Status".into(), "BrowsingApplications".into());
                    page.insert("CurrentAmount".into(), (list.len() as u64).into());
                    page.insert("CurrentIndex".into(), 0u64.into());
                    page.insert("Total".into(), (list.len() as u64).into());
                    page.insert("CurrentList".into(), Value::Array(list));
                    let mut done = Dictionary::new();
                    done.insert("Status".into(), "Complete".into());
                    vec![page, done]
                }
                other => {
                    let mut error = Dictionary::new();
                    error.insert("Error".into(), "UnknownCommand".into());
                    error.insert("ErrorDescription".into(), format!("unknown command {other:?}").into());
                    vec![error]
                }
            };
            for reply in replies {
                if wire::write_frame(&mut stream, &Value::Dictionary(reply), Format::Xml).is_err() {
                    return;
                }
            }
        }
    }
}

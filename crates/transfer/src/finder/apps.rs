//! `com.apple.mobile.installation_proxy` `Browse` of the user's apps, for Info.plist
//! (docs/backup.md §1.9, §5.3).

use std::io::{Read, Write};

use lockdown::codec::{Format, MAX_FRAME};
use lockdown::wire::{self, WireError};
use plist::{Dictionary, Value};

pub const SERVICE: &str = "com.apple.mobile.installation_proxy";

/// The attributes Info.plist uses.
const ATTRIBUTES: [&str; 6] = [
    "CFBundleIdentifier",
    "ApplicationSINF",
    "iTunesMetadata",
    "CFBundleDisplayName",
    "CFBundleVersion",
    "ApplicationType",
];

#[derive(Debug, thiserror::Error)]
pub enum BrowseError {
    #[error(transparent)]
    Wire(#[from] WireError),
    #[error("the iPhone's app list ended early")]
    Ended,
    #[error("the iPhone refused to list its apps: {0}")]
    Refused(String),
}

/// Every user app's attributes, in the order the phone sends them.
pub fn browse<S: Read + Write>(stream: &mut S) -> Result<Vec<Dictionary>, BrowseError> {
    let mut options = Dictionary::new();
    options.insert("ApplicationType".into(), "User".into());
    options.insert(
        "ReturnAttributes".into(),
        Value::Array(ATTRIBUTES.iter().map(|a| Value::from(*a)).collect()),
    );
    let mut request = Dictionary::new();
    request.insert("Command".into(), "Browse".into());
    request.insert("ClientOptions".into(), Value::Dictionary(options));
    wire::write_frame(stream, &Value::Dictionary(request), Format::Xml)?;
    let mut apps = Vec::new();
    loop {
        let Some(Value::Dictionary(reply)) = wire::read_frame(stream, MAX_FRAME)? else {
            return Err(BrowseError::Ended);
        };
        if let Some(error) = reply.get("Error").and_then(Value::as_string) {
            return Err(BrowseError::Refused(error.to_string()));
        }
        if let Some(list) = reply.get("CurrentList").and_then(Value::as_array) {
            apps.extend(list.iter().filter_map(Value::as_dictionary).cloned());
        }
        if reply.get("Status").and_then(Value::as_string) == Some("Complete") {
            return Ok(apps);
        }
    }
}

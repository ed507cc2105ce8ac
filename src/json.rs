//! plist values as JSON, for `--json` output.

use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Map, Value as Json};

/// Whether this run printed its JSON document yet: an error after it is not printed as a
/// second document (`exit::report`).
static PRINTED: AtomicBool = AtomicBool::new(false);

/// Prints a command's JSON document on standard output.
pub fn print(value: &impl serde::Serialize) -> serde_json::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    PRINTED.store(true, Ordering::Relaxed);
    Ok(())
}

pub fn printed() -> bool {
    PRINTED.load(Ordering::Relaxed)
}

pub fn from_plist(value: &plist::Value) -> Json {
    match value {
        plist::Value::Array(items) => Json::Array(items.iter().map(from_plist).collect()),
        plist::Value::Dictionary(dict) => Json::Object(object(dict)),
        plist::Value::Boolean(b) => Json::Bool(*b),
        // Keys holding key material never reach the output.
        plist::Value::Data(bytes) => Json::String(bytes.iter().map(|b| format!("{b:02x}")).collect()),
        plist::Value::Date(date) => Json::String(date.to_xml_format()),
        plist::Value::Real(r) => serde_json::Number::from_f64(*r).map(Json::Number).unwrap_or(Json::Null),
        plist::Value::Integer(i) => match (i.as_unsigned(), i.as_signed()) {
            (Some(u), _) => Json::from(u),
            (None, Some(s)) => Json::from(s),
            _ => Json::Null,
        },
        plist::Value::String(s) => Json::String(s.clone()),
        plist::Value::Uid(uid) => Json::from(uid.get()),
        _ => Json::Null,
    }
}

pub fn object(dict: &plist::Dictionary) -> Map<String, Json> {
    dict.iter().map(|(k, v)| (k.clone(), from_plist(v))).collect()
}

/// Entries passed over, as `[{"path", "reason"}]`.
pub fn skipped(skipped: &[transfer::photos::plan::Skip]) -> Vec<Json> {
    skipped
        .iter()
        .map(|s| serde_json::json!({"path": s.path, "reason": s.reason}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_each_kind() {
        let mut d = plist::Dictionary::new();
        d.insert("n".into(), 5u64.into());
        d.insert("neg".into(), plist::Value::Integer((-3i64).into()));
        d.insert("b".into(), true.into());
        d.insert("d".into(), plist::Value::Data(vec![0xab, 1]));
        d.insert("r".into(), plist::Value::Real(0.5));
        let json = from_plist(&plist::Value::Dictionary(d));
        assert_eq!(
            json,
            serde_json::json!({"n": 5, "neg": -3, "b": true, "d": "ab01", "r": 0.5})
        );
    }
}

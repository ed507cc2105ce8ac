//! The device's `MBErrorDomain` codes in the final response, in words, with what to do
//! (docs/backup.md §1.7).

/// What a final `ErrorCode` means for the person backing up, or `None` for a code with no
/// known meaning (shown with its number and the device's own description).
pub fn explain(code: u64) -> Option<&'static str> {
    Some(match code {
        3 => "the iPhone could not make its backup snapshot. Restart the iPhone, then back up again",
        104 => {
            "the iPhone could not read some of its own files. Keep it unlocked and plugged in during the \
             backup; if it happens again, restart it"
        }
        105 => "there is not enough free space for the backup on this computer",
        205 => "the earlier backup in this folder is damaged, so the iPhone refused to add to it",
        207 => "the backup password is wrong, or the iPhone requires one that was not given",
        208 => {
            "the passcode was not entered on the iPhone in time. Unlock it, back up again, and enter the passcode when it asks"
        }
        212 => "the iPhone has not finished its setup. Finish it on the iPhone, then back up again",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_known_codes_have_words() {
        for code in [3, 104, 105, 205, 207, 208, 212] {
            assert!(explain(code).is_some(), "{code}");
        }
        assert_eq!(explain(999), None);
    }
}

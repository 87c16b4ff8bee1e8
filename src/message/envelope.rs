//! The ENVELOPE view (RFC 3501 §7.4.2) of one header block.

use super::address::parse_list;
use super::header::{Field, first};

/// One address structure. A group is a start marker (`mailbox` = group name, `host` None)
/// and an end marker (all None), exactly as RFC 3501 encodes RFC 5322 group syntax.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// Raw header bytes (unfolded, trimmed, encoded words left as they are); `None` / an empty
/// list where the header is absent, which IMAP sends as NIL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    pub sender: Vec<Address>,
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

impl Envelope {
    /// Builds the envelope from the fields of a header block inside `raw`. The first field of
    /// each name counts; Sender and Reply-To fall back to From when absent or empty.
    pub(crate) fn from_fields(raw: &[u8], fields: &[Field]) -> Envelope {
        let text = |name: &[u8]| first(fields, raw, name).map(|f| f.unfolded(raw));
        let addrs = |name: &[u8]| {
            first(fields, raw, name)
                .map(|f| parse_list(&f.unfolded(raw)))
                .unwrap_or_default()
        };
        let from = addrs(b"From");
        let mut sender = addrs(b"Sender");
        if sender.is_empty() {
            sender = from.clone();
        }
        let mut reply_to = addrs(b"Reply-To");
        if reply_to.is_empty() {
            reply_to = from.clone();
        }
        Envelope {
            date: text(b"Date"),
            subject: text(b"Subject"),
            from,
            sender,
            reply_to,
            to: addrs(b"To"),
            cc: addrs(b"Cc"),
            bcc: addrs(b"Bcc"),
            in_reply_to: text(b"In-Reply-To"),
            message_id: text(b"Message-ID"),
        }
    }
}

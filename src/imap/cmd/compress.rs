//! COMPRESS (RFC 4978): `COMPRESS DEFLATE` turns on raw deflate in both directions right
//! after its tagged OK; the connection (`net/deflate.rs`) does the rest.

use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

impl Session<'_> {
    pub fn cmd_compress(&mut self, tag: &str, mechanism: &str) -> CommandResult {
        if !self.config.imap.compress {
            return Err(Outcome::bad("COMPRESS is not offered"));
        }
        if self.conn.is_compressed() {
            // RFC 4978 §3: NO with COMPRESSIONACTIVE when the layer is on already.
            return Err(Outcome::no("[COMPRESSIONACTIVE] DEFLATE is active already"));
        }
        if mechanism != "DEFLATE" {
            return Err(Outcome::no(format!(
                "{mechanism} is not a supported compression mechanism"
            )));
        }
        self.out
            .extend_from_slice(format!("{tag} OK DEFLATE active\r\n").as_bytes());
        if let Err(err) = self.flush().and_then(|()| self.conn.start_compress()) {
            log::info!("COMPRESS failed: {err}");
            self.logout();
        }
        Ok(Outcome::Done)
    }
}

//! CAPABILITY (RFC 3501 §6.1.1) and the list itself: advertised only for what is
//! complete. The greeting and the login answers carry the same list.

use crate::auth::sasl::Offer;
use crate::imap::response::{CommandResult, Outcome};
use crate::imap::session::Session;

/// Extensions served in every state.
///
/// The search extensions: ESEARCH (RFC 4731), SEARCHRES (RFC 5182), PARTIAL (RFC 9394,
/// SEARCH RETURN and the UID FETCH modifier) and WITHIN (RFC 5032). ESORT (RFC 5267 §3):
/// SORT RETURN (...) with the same options, answered in sort order.
///
/// CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267) are left out on purpose. What they add
/// beyond ESEARCH is live results: RETURN (UPDATE), unsolicited ADDTO/REMOVEFROM and
/// CANCELUPDATE. The common clients do not ask for them: Thunderbird and Apple Mail keep a
/// folder current with IDLE/NOOP and (where offered) CONDSTORE/QRESYNC, and search afresh;
/// Outlook, mutt, Evolution and Roundcube search plainly or with ESEARCH. Dovecot
/// advertises CONTEXT=SEARCH, yet that is no sign of use. The part of RFC 5267 clients do
/// page with, PARTIAL, now stands alone (RFC 9394) and is served. Update machinery no
/// client drives would be code kept working without a caller to test it against.
///
/// UIDONLY (RFC 9586) is left out too. Its VANISHED reporting is there (QRESYNC), but it
/// also replaces every FETCH response by UIDFETCH and refuses sequence numbers in every
/// command (RFC 9586 §3-§4): a second response grammar for all of FETCH, STORE, SEARCH
/// and SORT. The clients that resynchronise cheaply (Thunderbird, Apple Mail, mbsync,
/// OfflineIMAP, K-9) use CONDSTORE/QRESYNC, which are served, and none sends ENABLE
/// UIDONLY.
const BASE: &str = "IMAP4rev1 LITERAL+ SASL-IR ID ENABLE IDLE UIDPLUS NAMESPACE CHILDREN UNSELECT MOVE SPECIAL-USE LIST-EXTENDED LIST-STATUS QUOTA ACL ACL2=UNION UTF8=ACCEPT ESEARCH SEARCHRES PARTIAL WITHIN SORT SORT=DISPLAY ESORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES BINARY PREVIEW SAVEDATE OBJECTID";

impl Session<'_> {
    pub fn cmd_capability(&mut self) -> CommandResult {
        let caps = self.capabilities();
        self.untagged(&format!("CAPABILITY {caps}"));
        Ok(Outcome::ok("CAPABILITY completed"))
    }

    pub fn capabilities(&self) -> String {
        let mut caps = String::from(BASE);
        if self.config.imap.imap4rev2 {
            // Beside IMAP4rev1, which stays the default (RFC 9051 §7.2.2 and Appendix
            // E: a server may offer both; rev2 starts at ENABLE IMAP4rev2).
            caps.insert_str("IMAP4rev1".len(), " IMAP4rev2");
        }
        if self.config.imap.smap {
            // Where Courier puts it: after its IMAP_CAPABILITY list, before ACL.
            let smap = if self.config.imap.keywords {
                " SMAP1 KEYWORDS ACL "
            } else {
                " SMAP1 ACL "
            };
            caps = caps.replacen(" ACL ", smap, 1);
        }
        // RFC 8438 and RFC 7889: one limit for every mailbox, `[limits] max_append_size`.
        caps.push_str(" STATUS=SIZE CREATE-SPECIAL-USE MULTIAPPEND");
        // RFC 7162: mod-sequences in `postern-modseq` beside each folder.
        caps.push_str(" CONDSTORE QRESYNC");
        caps.push_str(&format!(
            " APPENDLIMIT={}",
            self.config.limits.max_append_size
        ));
        // Courier's order: after the AUTH= list, before ENABLE (here: always listed).
        if let Some(outbox) = self.config.imap.outbox_folder() {
            caps.push_str(" XCOURIEROUTBOX=");
            caps.push_str(&crate::imap::names::to_wire(&outbox, false));
        }
        if self.config.imap.move_expunge_to_trash {
            caps.push_str(" XMAGICTRASH");
        }
        // The command is valid only after login (RFC 4978 §5 `command-auth`).
        if self.config.imap.compress && !self.state.is_not_authenticated() {
            caps.push_str(" COMPRESS=DEFLATE");
        }
        if self.state.is_not_authenticated() {
            let tls = self.conn.is_tls();
            if self.starttls && !tls {
                caps.push_str(" STARTTLS");
            }
            let offer = self.sasl_offer();
            if offer.logins_disabled() {
                // RFC 3501 §6.2.3: no login until STARTTLS, and no mechanism on offer.
                caps.push_str(" LOGINDISABLED");
            }
            for name in offer.advertised() {
                caps.push_str(" AUTH=");
                caps.push_str(name);
            }
        }
        caps
    }

    /// The SASL mechanisms this session offers (by TLS state, backend and certificate).
    pub fn sasl_offer(&self) -> Offer {
        Offer::new(
            &self.config.auth,
            self.login_needs_tls(),
            self.external_identity(),
        )
    }

    /// `[tls] require_tls_imap` and TLS is not up yet.
    pub fn login_needs_tls(&self) -> bool {
        self.config.tls.require_tls_imap && !self.conn.is_tls()
    }

    /// The login a verified client certificate names (`[tls] external_field`).
    pub fn external_identity(&self) -> Option<String> {
        self.conn
            .peer_certificate()?
            .identity(&self.config.tls.external_field)
            .map(str::to_owned)
    }
}

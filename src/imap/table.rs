//! The command table (after Dovecot's `imap-commands.c`): for each command the states it
//! is valid in, whether it uses or breaks message sequence numbers, and what the session
//! may tell the client about other sessions' changes after it. The session's `dispatch`
//! looks a command up here; nothing else decides these by the command's name.

use super::session::State;

/// The states a command is valid in (RFC 3501 §3, §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct States {
    pub not_authenticated: bool,
    pub authenticated: bool,
    pub selected: bool,
}

/// Valid in every state (§6.1).
pub const ANY: States = States {
    not_authenticated: true,
    authenticated: true,
    selected: true,
};
/// Only before login (§6.2).
pub const NOT_AUTHENTICATED: States = States {
    not_authenticated: true,
    authenticated: false,
    selected: false,
};
/// After login, with or without a selected folder (§6.3).
pub const AUTHENTICATED: States = States {
    not_authenticated: false,
    authenticated: true,
    selected: true,
};
/// Only with a selected folder (§6.4).
pub const SELECTED: States = States {
    not_authenticated: false,
    authenticated: false,
    selected: true,
};

/// What the session reports of other sessions' changes after the command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announce {
    /// Nothing: the command changed or left the selected folder (SELECT, CLOSE, ...).
    Nothing,
    /// EXISTS, RECENT and FLAGS, but no EXPUNGE: RFC 3501 §7.4.1 forbids it while
    /// answering FETCH, STORE or SEARCH, whose client relies on the numbers it sent.
    NoExpunge,
    /// Everything, EXPUNGE included.
    All,
}

/// One row of the table.
#[derive(Debug)]
pub struct Spec {
    /// As [`super::command::CommandBody::name`] gives it (`UID FETCH` apart from `FETCH`).
    pub name: &'static str,
    pub states: States,
    /// The client names messages by sequence number.
    pub uses_seqs: bool,
    /// The command expunges, so sequence numbers shift.
    pub breaks_seqs: bool,
    pub announce: Announce,
}

impl Spec {
    pub fn allowed_in(&self, state: &State) -> bool {
        match state {
            State::NotAuthenticated => self.states.not_authenticated,
            State::Authenticated { .. } => self.states.authenticated,
            State::Selected { .. } => self.states.selected,
            State::Logout { .. } => false,
        }
    }
}

const fn row(name: &'static str, states: States, announce: Announce) -> Spec {
    Spec {
        name,
        states,
        uses_seqs: false,
        breaks_seqs: false,
        announce,
    }
}

const fn uses_seqs(mut spec: Spec) -> Spec {
    spec.uses_seqs = true;
    spec
}

const fn breaks_seqs(mut spec: Spec) -> Spec {
    spec.breaks_seqs = true;
    spec
}

use Announce::{All, NoExpunge, Nothing};

/// Every command postern parses, one row each.
pub static COMMANDS: &[Spec] = &[
    row("CAPABILITY", ANY, All),
    row("NOOP", ANY, All),
    row("LOGOUT", ANY, Nothing),
    row("ID", ANY, All),
    row("STARTTLS", NOT_AUTHENTICATED, All),
    row("LOGIN", NOT_AUTHENTICATED, All),
    row("AUTHENTICATE", NOT_AUTHENTICATED, All),
    row("ENABLE", AUTHENTICATED, All),
    row("SELECT", AUTHENTICATED, Nothing),
    row("EXAMINE", AUTHENTICATED, Nothing),
    row("CREATE", AUTHENTICATED, All),
    row("DELETE", AUTHENTICATED, All),
    row("RENAME", AUTHENTICATED, All),
    row("SUBSCRIBE", AUTHENTICATED, All),
    row("UNSUBSCRIBE", AUTHENTICATED, All),
    row("LIST", AUTHENTICATED, All),
    row("LSUB", AUTHENTICATED, All),
    row("STATUS", AUTHENTICATED, All),
    row("APPEND", AUTHENTICATED, All),
    row("IDLE", AUTHENTICATED, All),
    row("NAMESPACE", AUTHENTICATED, All),
    // RFC 4978 §5 adds COMPRESS to `command-auth`. Nothing is announced after it: its
    // tagged OK is the last uncompressed response.
    row("COMPRESS", AUTHENTICATED, Nothing),
    row("GETQUOTA", AUTHENTICATED, All),
    row("GETQUOTAROOT", AUTHENTICATED, All),
    row("SETQUOTA", AUTHENTICATED, All),
    row("GETACL", AUTHENTICATED, All),
    row("SETACL", AUTHENTICATED, All),
    row("DELETEACL", AUTHENTICATED, All),
    row("LISTRIGHTS", AUTHENTICATED, All),
    row("MYRIGHTS", AUTHENTICATED, All),
    row("ACL", AUTHENTICATED, All),
    row("CHECK", SELECTED, All),
    breaks_seqs(row("CLOSE", SELECTED, Nothing)),
    row("UNSELECT", SELECTED, Nothing),
    breaks_seqs(row("EXPUNGE", SELECTED, All)),
    breaks_seqs(row("UID EXPUNGE", SELECTED, All)),
    uses_seqs(row("SEARCH", SELECTED, NoExpunge)),
    row("UID SEARCH", SELECTED, All),
    uses_seqs(row("SORT", SELECTED, NoExpunge)),
    row("UID SORT", SELECTED, All),
    uses_seqs(row("THREAD", SELECTED, NoExpunge)),
    row("UID THREAD", SELECTED, All),
    uses_seqs(row("FETCH", SELECTED, NoExpunge)),
    row("UID FETCH", SELECTED, All),
    uses_seqs(row("STORE", SELECTED, NoExpunge)),
    row("UID STORE", SELECTED, All),
    uses_seqs(row("COPY", SELECTED, All)),
    row("UID COPY", SELECTED, All),
    uses_seqs(breaks_seqs(row("MOVE", SELECTED, All))),
    breaks_seqs(row("UID MOVE", SELECTED, All)),
];

/// The row of a command by its name.
pub fn lookup(name: &str) -> Option<&'static Spec> {
    COMMANDS.iter().find(|spec| spec.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        for (i, spec) in COMMANDS.iter().enumerate() {
            assert!(
                COMMANDS[i + 1..].iter().all(|s| s.name != spec.name),
                "{} twice",
                spec.name
            );
        }
    }

    /// Only commands that use sequence numbers may hold EXPUNGE back, and those that
    /// leave or replace the folder report nothing.
    #[test]
    fn expunge_policy_follows_sequence_numbers() {
        for spec in COMMANDS {
            if spec.announce == NoExpunge {
                assert!(spec.uses_seqs, "{}", spec.name);
            }
        }
        for name in ["SELECT", "EXAMINE", "CLOSE", "UNSELECT", "LOGOUT"] {
            assert_eq!(lookup(name).unwrap().announce, Nothing, "{name}");
        }
    }

    #[test]
    fn states_follow_rfc_3501() {
        let logout = State::Logout { account: None };
        assert!(
            lookup("LOGIN")
                .unwrap()
                .allowed_in(&State::NotAuthenticated)
        );
        assert!(!lookup("LOGIN").unwrap().states.selected);
        assert!(!lookup("FETCH").unwrap().states.authenticated);
        assert!(lookup("NOOP").unwrap().states.selected);
        assert!(!lookup("NOOP").unwrap().allowed_in(&logout));
    }
}

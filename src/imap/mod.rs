//! The IMAP server: `imapd` serves one session on an inherited connection.
//!
//! # Layers (nothing imports upward)
//!
//! - `framing` reads lines and literals into a [`raw::RawCommand`]; `parser` turns it into
//!   a [`command::Command`] (one function per ABNF rule, in `parser/` by section of the
//!   grammar). Both report a [`raw::CommandError`]; neither imports the other's types.
//! - `session` runs the loop: it looks the command up in the command table
//!   ([`table::COMMANDS`]), refuses it if the session's [`session::State`] is not one of
//!   the row's states, runs it, and afterwards reports other sessions' changes as the row's
//!   `announce` says (no EXPUNGE after FETCH, STORE or SEARCH, RFC 3501 §7.4.1).
//! - `cmd/` has one file per command (or small family): it checks the arguments, calls the
//!   store or an engine and writes the answer. Commands return
//!   `Result<Outcome, Outcome>` ([`response::CommandResult`]), so failures, including
//!   store errors (`From<&StoreError> for Outcome`), propagate with `?`.
//! - Engines below the commands: `fetch` (one `* n FETCH` line per message), `search`,
//!   `sync` (other sessions' changes as EXPUNGE / EXISTS / FETCH FLAGS); with `sets`
//!   (sequence sets, flag lists) and `response` (the tagged outcome and the one writer
//!   each of `* n EXPUNGE` and `* n FETCH (FLAGS ...)`). Message views come from
//!   `crate::message`, their IMAP syntax from `message_syntax`.
//!
//! "Where is FETCH BODYSTRUCTURE answered": `cmd/fetch.rs` -> `fetch.rs`
//! (`FetchPlan`, cache kind `bodystructure`) -> `message_syntax::write_body_structure`.
//!
//! # Adding a command: a worked example
//!
//! Say UNAUTHENTICATE (RFC 8437) is to be served:
//!
//! 1. `command.rs`: add `CommandBody::Unauthenticate` and its name in
//!    `CommandBody::name` (`"UNAUTHENTICATE"`); `parser` parses it (one function per
//!    ABNF rule, the rule in its doc comment) and the fuzz target covers it.
//! 2. `table.rs`: one row, e.g. `row("UNAUTHENTICATE", AUTHENTICATED, Nothing)`: valid
//!    after login, and nothing to report after it since it leaves the folder. A command
//!    that takes sequence numbers gets `uses_seqs(...)` (and `NoExpunge` if RFC 3501
//!    §7.4.1 covers it); one that expunges gets `breaks_seqs(...)`.
//! 3. `cmd/unauthenticate.rs`: `impl Session<'_> { pub fn cmd_unauthenticate(&mut self)
//!    -> CommandResult { ... } }`, a state change through the session's transitions
//!    (`deselect`, `logout`, ...), the answer as `Ok(Outcome::ok("UNAUTHENTICATE
//!    completed"))`; declare it in `cmd/mod.rs` and add its arm to `run_command`.
//! 4. `cmd/capability.rs`: advertise it once it is complete; a test in `tests/imap_*.rs`
//!    drives the real binary and checks every response with imap-codec.

#![forbid(unsafe_code)]

mod cmd;
pub mod command;
pub mod datetime;
pub mod fetch;
pub mod flags;
pub mod framing;
pub mod mailflow;
pub mod message_syntax;
pub mod mutf7;
pub mod names;
pub mod parser;
pub mod raw;
pub mod response;
pub mod search;
pub mod sequence;
pub mod session;
pub mod sets;
pub mod sort;
pub mod sync;
pub mod syntax;
pub mod table;
pub mod thread;
mod wire;

use crate::{config::Config, net::conn::Connection};

/// Serves one IMAP session until the client logs out or goes away.
pub fn run_session(config: &Config, conn: Connection) -> anyhow::Result<()> {
    let mut session = session::Session::new(config, conn);
    session.pre_login = Some(&cmd::prelogin::PRE_LOGIN);
    session.run()
}

/// `postern-login`: [`run_session`] on a plaintext connection, with STARTTLS run by
/// `postern` (see [`crate::net::tls_handoff`]).
pub fn run_plaintext_session(config: &Config, conn: Connection) -> anyhow::Result<()> {
    let mut session = session::Session::new(config, conn);
    session.pre_login = Some(&cmd::prelogin::PLAINTEXT_PRE_LOGIN);
    session.run()
}

/// `postern resume-tls`: the handshake a client of `postern-login` asked for with
/// STARTTLS, then the session as [`run_session`] would have gone on.
pub fn resume_after_starttls(
    conn: Connection,
    request: crate::net::tls_handoff::TlsRequest,
) -> anyhow::Result<()> {
    let config = &request.config;
    crate::log::set_level(config.log.level);
    crate::log::continue_session(&request.session_id);
    let mut session = session::Session::new(config, conn);
    session.pre_login = Some(&cmd::prelogin::PRE_LOGIN);
    session.failed_logins = request.failed_logins;
    let elapsed = std::time::Duration::from_millis(request.elapsed_ms);
    session.started = session
        .started
        .checked_sub(elapsed)
        .unwrap_or(session.started);
    let smap = request.asked == crate::net::tls_handoff::Asked::Smap;
    session.resume_after_starttls(smap)
}

/// `postern-session`: goes on with a session `postern imapd` handed over after login
/// (see [`crate::net::handoff`]).
pub fn resume_session(
    socket: std::os::fd::OwnedFd,
    handoff: crate::net::handoff::Handoff,
) -> anyhow::Result<()> {
    let crate::net::handoff::Handoff {
        tag,
        verb,
        session_id,
        elapsed_ms,
        peer,
        bytes_read,
        bytes_written,
        input,
        account,
        config,
    } = handoff;
    crate::log::set_level(config.log.level);
    crate::log::continue_session(&session_id);
    let mut conn = Connection::from_socket(socket);
    conn.resume(&input, bytes_read, bytes_written);
    if peer.is_some() {
        conn.set_peer_addr(peer);
    }
    let mut session = session::Session::new(&config, conn);
    let elapsed = std::time::Duration::from_millis(elapsed_ms);
    session.started = session
        .started
        .checked_sub(elapsed)
        .unwrap_or(session.started);
    session.resume(account, &tag, &verb)
}

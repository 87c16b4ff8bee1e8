//! `postern-session`: the mail session program. `postern imapd` executes it after a
//! login, as the user, with the connection and a record of the session so far (see
//! `postern::net::handoff`). It serves the mail and nothing else: it is not linked with
//! OpenSSL, PAM or password hashing, which only the login needs.

use std::process::ExitCode;

fn main() -> ExitCode {
    postern::log::init("postern-imapd");
    let (socket, handoff) = match postern::net::handoff::receive() {
        Ok(received) => received,
        Err(err) => {
            log::error!("postern-session: {err:#}");
            return ExitCode::from(2);
        }
    };
    match postern::imap::resume_session(socket, handoff) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            log::error!("session: {err:#}");
            ExitCode::from(1)
        }
    }
}

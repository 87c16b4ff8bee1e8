//! The POP3 server: RFC 1939 with CAPA and response codes (RFC 2449, 3206), SASL AUTH
//! (RFC 5034), serving INBOX of the account's Maildir with Courier's UIDLs.
//!
//! - [`session`]: the state machine and the commands;
//! - [`command`]: command-line syntax;
//! - [`maildrop`]: the locked, numbered INBOX view and UPDATE;
//! - [`sizelist`]: `courierpop3dsizelist`, Courier's UIDL and size record;
//! - [`crlf`]: CRLF line ends, byte-stuffing and TOP on the way out.

#![forbid(unsafe_code)]

pub mod command;
pub mod crlf;
pub mod maildrop;
pub mod session;
pub mod sizelist;

pub use session::{resume_after_stls, run_plaintext_session, run_session};

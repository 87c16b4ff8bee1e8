//! postern: an IMAP and POP3 server for Maildir++ folders, compatible with Courier-IMAP's
//! on-disk formats and built to run under systemd, one process per connection.
//!
//! Dependency direction (never the other way):
//! `net, imap, pop3, smap -> auth, store, message` (smap runs inside an IMAP session); `store` and `message` know no protocol.

pub mod auth;
pub mod config;
pub mod demo;
pub mod heap;
pub mod imap;
pub mod log;
pub mod mapped;
pub mod message;
pub mod net;
pub mod outbox;
pub mod pop3;
pub mod random;
pub mod smap;
pub mod store;
pub mod submit;

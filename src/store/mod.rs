//! Maildir++ storage engine; knows no protocol.
pub mod cli;

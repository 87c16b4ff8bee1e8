//! How bytes arrive: socket activation, the listener, connections.
pub mod activation;
pub mod budget;
pub mod conn;
pub mod deflate;
pub mod handoff;
pub mod serve;
mod spawn;
pub mod tls;
pub mod tls_handoff;
mod tls_stream;
pub mod tls_tools;

//! How bytes arrive: socket activation, the listener, connections.
pub mod activation;
pub mod conn;
pub mod tls;
pub mod tls_tools;
pub mod serve;

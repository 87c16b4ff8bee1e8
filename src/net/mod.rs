//! How bytes arrive: socket activation, the listener, connections.
pub mod activation;
pub mod conn;
pub mod serve;

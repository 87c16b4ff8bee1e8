//! One client connection (placeholder contract).
pub struct Connection {}

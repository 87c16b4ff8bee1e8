//! A free loopback port for a server a test starts.
//!
//! Ports come from below the kernel's ephemeral range (32768 and up on Linux), so the
//! client connections every test makes cannot take a port between this check and the
//! server's bind; tests running in parallel pick at random, so they rarely meet, and the
//! server starts retry on "in use" where that matters.

use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

static CALLS: AtomicU32 = AtomicU32::new(0);

pub fn free_port() -> u16 {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id().rotate_left(16)
        ^ CALLS
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_mul(2_654_435_761);
    let mut x = seed | 1;
    for _ in 0..1000 {
        // xorshift: cheap, good enough to spread parallel tests over the range.
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let port = 20_000 + (x % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port between 20000 and 32000");
}

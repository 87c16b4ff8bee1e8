//! Random bytes from the kernel (getrandom(2)), not from OpenSSL: the mail session
//! process is not linked with OpenSSL (see `src/bin/postern-session.rs`), and OpenSSL's
//! first use loads its configuration and algorithm tables into the process.

use std::io;

/// Fills `bytes`; blocks only before the kernel's pool is first initialised at boot.
pub fn fill(bytes: &mut [u8]) -> io::Result<()> {
    let mut filled = 0;
    while filled < bytes.len() {
        let rest = &mut bytes[filled..];
        // SAFETY: the pointer and length describe the unfilled part of `bytes`.
        let n = unsafe { nix::libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
            continue;
        }
        filled += n as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_draws_differ() {
        let mut a = [0u8; 16];
        let mut b = [0u8; 16];
        super::fill(&mut a).unwrap();
        super::fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}

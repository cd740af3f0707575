//! What the three benchmark servers share: the canned response of
//! bench/servers/response.h, request counting, and argument parsing.

/// bench/servers/response.h's BENCH_RESPONSE, byte for byte.
pub const RESPONSE: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!";

/// Counts complete requests ("\r\n\r\n" terminators, non-overlapping) in
/// `p`; `state` (0..3) carries a terminator's prefix across reads.
pub fn count_requests(p: &[u8], state: &mut u8) -> usize {
    const TERM: [u8; 4] = *b"\r\n\r\n";
    let mut s = *state as usize;
    let mut count = 0;
    for &c in p {
        if c == TERM[s] {
            s += 1;
            if s == 4 {
                count += 1;
                s = 0;
            }
        } else {
            s = usize::from(c == b'\r');
        }
    }
    *state = s as u8;
    count
}

/// `count` responses back to back, from a buffer built once.
pub struct Responses(Vec<u8>);

impl Responses {
    pub fn new() -> Responses {
        Responses(RESPONSE.repeat(64))
    }
    /// `k` (at most [`Responses::MAX`]) responses.
    pub fn slice(&self, k: usize) -> &[u8] {
        &self.0[..k.min(Self::MAX) * RESPONSE.len()]
    }
    pub const MAX: usize = 64;
    /// Calls `f` with slices that hold `count` responses in all.
    pub fn each<E>(
        &self,
        mut count: usize,
        mut f: impl FnMut(&[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        while count > 0 {
            let n = count.min(64);
            f(&self.0[..n * RESPONSE.len()])?;
            count -= n;
        }
        Ok(())
    }
}

impl Default for Responses {
    fn default() -> Self {
        Responses::new()
    }
}

/// `--port P` and `--reactors N` / `--threads N` (default 1).
pub fn args() -> (u16, u32) {
    let a: Vec<String> = std::env::args().collect();
    let get = |names: &[&str]| {
        a.windows(2)
            .find(|w| names.contains(&w[0].as_str()))
            .map(|w| w[1].clone())
    };
    let port = get(&["--port"])
        .and_then(|p| p.parse().ok())
        .unwrap_or(8080);
    let n = get(&["--reactors", "--threads"])
        .and_then(|p| p.parse().ok())
        .unwrap_or(1);
    (port, n)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn counts_split_terminators_once() {
        let mut s = 0;
        assert_eq!(
            count_requests(b"GET / HTTP/1.1\r\n\r\nGET /\r\n\r", &mut s),
            1
        );
        assert_eq!(count_requests(b"\n", &mut s), 1);
        assert_eq!(count_requests(b"\r\n\r\n\r\n\r\n", &mut s), 2);
        assert_eq!(s, 0);
    }
}

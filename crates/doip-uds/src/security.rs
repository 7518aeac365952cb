//! Seed and key: the algorithm is the OEM's secret, so the caller supplies it.

/// Computes the SecurityAccess key for a seed.
pub trait KeyAlgorithm {
    /// The key for `seed` at `level` (the odd requestSeed sub-function).
    ///
    /// # Errors
    /// Whatever stops the algorithm (an external tool failing, say).
    fn key(
        &mut self,
        level: u8,
        seed: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Any closure `|level, seed| -> Result<key, error>`.
impl<F> KeyAlgorithm for F
where
    F: FnMut(u8, &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>,
{
    fn key(
        &mut self,
        level: u8,
        seed: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        self(level, seed)
    }
}

/// key = seed XOR a constant (repeated over the seed): the simulator's documented algorithm
/// (doip-sim's `security_key`), and a stand-in for tests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XorKey(pub Vec<u8>);

impl XorKey {
    /// XOR with a 32-bit constant, big-endian.
    #[must_use]
    pub fn from_u32(constant: u32) -> Self {
        Self(constant.to_be_bytes().to_vec())
    }
}

impl KeyAlgorithm for XorKey {
    fn key(
        &mut self,
        _level: u8,
        seed: &[u8],
    ) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        if self.0.is_empty() {
            return Err("empty XOR constant".into());
        }
        Ok(seed.iter().zip(self.0.iter().cycle()).map(|(s, k)| s ^ k).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_and_closures() {
        let mut x = XorKey::from_u32(0x5A5A_A5A5);
        assert_eq!(x.key(1, &[0, 0xFF, 1, 2]).unwrap(), [0x5A, 0xA5, 0xA4, 0xA7]);
        let mut f =
            |_: u8, seed: &[u8]| -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
                Ok(seed.iter().rev().copied().collect())
            };
        assert_eq!(KeyAlgorithm::key(&mut f, 1, &[1, 2]).unwrap(), [2, 1]);
        assert!(XorKey(Vec::new()).key(1, &[1]).is_err());
    }
}

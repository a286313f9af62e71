//! Random draws for the generated data (`demo`, `history`): our own integer and float
//! conversions of a PCG stream, so that the data does not shift when rand changes its
//! sampling algorithms. Each function takes its draws from `rng.next_u64()`, one per call.

use rand::Rng as _;
use rand_pcg::Pcg64Mcg;

/// The random stream of the generators.
pub(crate) type Rng = Pcg64Mcg;

/// A uniform integer in `0..n` (n > 0), by multiply-shift.
pub(crate) fn below(rng: &mut Rng, n: usize) -> usize {
    debug_assert!(n > 0);
    ((u128::from(rng.next_u64()) * n as u128) >> 64) as usize
}

/// A uniform float in [0, 1) from the top 53 bits.
pub(crate) fn unit(rng: &mut Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// True with probability `p`.
pub(crate) fn chance(rng: &mut Rng, p: f64) -> bool {
    unit(rng) < p
}

/// One of `items` (not empty), uniformly.
pub(crate) fn pick<'a, T>(rng: &mut Rng, items: &'a [T]) -> &'a T {
    &items[below(rng, items.len())]
}

/// An index drawn with the given integer weights.
pub(crate) fn weighted(rng: &mut Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut x = below(rng, total as usize) as u32;
    for (i, w) in weights.iter().enumerate() {
        if x < *w {
            return i;
        }
        x -= w;
    }
    weights.len() - 1
}

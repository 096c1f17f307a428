//! Shared helpers of the storage tests: deterministic vectors whose values
//! encode their id and version, so a torn or misplaced vector is detectable.

#![cfg(test)]

use quiver_core::storage::MmapStorage;

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// The vector of `id` at `version`: `[id, version, noise...]`.
pub fn pattern(id: u64, version: u64, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| match i {
            0 => id as f32,
            1 => version as f32,
            _ => {
                let h = splitmix(id ^ splitmix(version ^ splitmix(i as u64)));
                (h >> 40) as f32 / (1u64 << 23) as f32 - 1.0
            }
        })
        .collect()
}

/// The `(id, version)` a vector claims, if it is exactly that pattern.
pub fn decode(v: &[f32]) -> Option<(u64, u64)> {
    let id = *v.first()? as u64;
    let version = *v.get(1)? as u64;
    let expect = pattern(id, version, v.len());
    (bits(&expect) == bits(v)).then_some((id, version))
}

/// Bit patterns, for bit-exact comparisons.
pub fn bits(v: &[f32]) -> Vec<u32> {
    v.iter().map(|x| x.to_bits()).collect()
}

/// Leave the store's files exactly as a killed process would: no `Drop`.
pub fn crash(store: MmapStorage) {
    std::mem::forget(store);
}

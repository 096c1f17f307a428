use super::*;
use proptest::prelude::*;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn ref_dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| f64::from(*x) * f64::from(*y))
        .sum()
}

fn ref_l2sq(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (f64::from(*x) - f64::from(*y)).powi(2))
        .sum()
}

/// Scale of the rounding error of a sum of `terms`: relative to the sum of
/// magnitudes, not to the (possibly cancelling) result.
fn close(got: f32, want: f64, magnitude: f64) -> bool {
    (f64::from(got) - want).abs() <= 1e-5 * magnitude + 1e-6
}

fn random_vec(rng: &mut SmallRng, n: usize) -> Vec<f32> {
    (0..n).map(|_| rng.random_range(-2.0f32..2.0)).collect()
}

fn check_all_kernels(a: &[f32], b: &[f32]) -> std::result::Result<(), String> {
    let mag_dot: f64 = a.iter().zip(b).map(|(x, y)| f64::from((x * y).abs())).sum();
    let want_dot = ref_dot(a, b);
    let want_l2 = ref_l2sq(a, b);
    for k in available_kernels() {
        let d = k.dot.eval(a, b);
        if !close(d, want_dot, mag_dot) {
            return Err(format!("{} dot len {}: {d} vs {want_dot}", k.name, a.len()));
        }
        let c = k.cosine.eval(a, b);
        if !close(c, 1.0 - want_dot, mag_dot + 1.0) {
            return Err(format!("{} cosine len {}: {c}", k.name, a.len()));
        }
        let nd = k.neg_dot.eval(a, b);
        if !close(nd, -want_dot, mag_dot) {
            return Err(format!("{} neg_dot len {}: {nd}", k.name, a.len()));
        }
        let l = k.l2sq.eval(a, b);
        if !close(l, want_l2, want_l2) {
            return Err(format!("{} l2sq len {}: {l} vs {want_l2}", k.name, a.len()));
        }
    }
    Ok(())
}

#[test]
fn every_kernel_matches_reference_at_every_length_up_to_1100() {
    let mut rng = SmallRng::seed_from_u64(7);
    for n in 0..=1100 {
        let a = random_vec(&mut rng, n);
        let b = random_vec(&mut rng, n);
        if let Err(e) = check_all_kernels(&a, &b) {
            panic!("{e}");
        }
    }
}

#[test]
fn kernels_use_common_prefix_of_unequal_slices() {
    let a = [1.0f32; 37];
    let b = [2.0f32; 20];
    for k in available_kernels() {
        assert_eq!(k.dot.eval(&a, &b), 40.0, "{}", k.name);
        assert_eq!(k.l2sq.eval(&b, &a), 20.0, "{}", k.name);
    }
}

#[test]
fn detected_kernel_is_the_first_available() {
    assert_eq!(kernel_name(), available_kernels()[0].name);
    assert_eq!(available_kernels().last().map(|k| k.name), Some("scalar"));
}

#[test]
fn cosine_preprocess_normalises_and_keeps_zero() {
    let mut v = vec![3.0, 4.0];
    Metric::Cosine.preprocess(&mut v);
    assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
    let mut z = vec![0.0; 5];
    Metric::Cosine.preprocess(&mut z);
    assert_eq!(z, vec![0.0; 5]);
    let mut e = vec![3.0, 4.0];
    Metric::Euclid.preprocess(&mut e);
    assert_eq!(e, vec![3.0, 4.0]);
}

#[test]
fn cosine_preprocess_is_exact_for_huge_and_tiny_vectors() {
    for scale in [1e20_f32, 3e38, 1e-30, 1e-44] {
        let mut v = vec![scale, scale, 0.0, -scale];
        Metric::Cosine.preprocess(&mut v);
        let norm: f64 = v.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
        assert!((norm - 1.0).abs() < 1e-5, "scale {scale}: norm^2 {norm}");
        let third = 1.0 / 3.0_f32.sqrt();
        assert!(
            (v[0] - third).abs() < 1e-5 && (v[3] + third).abs() < 1e-5,
            "{v:?}"
        );
    }
}

#[test]
fn scores_follow_qdrant_conventions() {
    let a = [1.0, 0.0];
    let b = [0.0, 1.0];
    assert!((Metric::Cosine.score(Metric::Cosine.distance(&a, &a)) - 1.0).abs() < 1e-6);
    assert!((Metric::Cosine.score(Metric::Cosine.distance(&a, &b))).abs() < 1e-6);
    assert_eq!(
        Metric::Dot.score(Metric::Dot.distance(&[2.0, 3.0], &[4.0, 5.0])),
        23.0
    );
    assert_eq!(
        Metric::Euclid.score(Metric::Euclid.distance(&[0.0, 0.0], &[3.0, 4.0])),
        5.0
    );
    assert!(Metric::Cosine.higher_is_better() && Metric::Dot.higher_is_better());
    assert!(!Metric::Euclid.higher_is_better());
}

#[test]
fn metric_serde_names_are_qdrants() {
    assert_eq!(
        serde_json::to_string(&Metric::Cosine).unwrap(),
        "\"Cosine\""
    );
    assert_eq!(
        serde_json::to_string(&Metric::Euclid).unwrap(),
        "\"Euclid\""
    );
    let m: Metric = serde_json::from_str("\"Dot\"").unwrap();
    assert_eq!(m, Metric::Dot);
}

#[test]
fn hamming_and_jaccard_on_known_bits() {
    let a = [0b1011u64, u64::MAX];
    let b = [0b0110u64, 0];
    assert_eq!(hamming(&a, &b), 3 + 64);
    // |a & b| = 1, |a | b| = 4 + 64
    assert!((jaccard(&a, &b) - (1.0 - 1.0 / 68.0)).abs() < 1e-6);
    assert_eq!(jaccard(&[0], &[0]), 0.0);
    assert_eq!(jaccard(&a, &a), 0.0);
}

proptest! {
    #[test]
    fn simd_kernels_match_scalar_reference(
        (a, b) in (1usize..=1100).prop_flat_map(|n| (
            proptest::collection::vec(-100.0f32..100.0, n),
            proptest::collection::vec(-100.0f32..100.0, n),
        ))
    ) {
        prop_assert!(check_all_kernels(&a, &b).is_ok(), "{:?}", check_all_kernels(&a, &b));
    }

    #[test]
    fn bit_kernels_match_reference(
        (a, b) in (0usize..40).prop_flat_map(|n| (
            proptest::collection::vec(any::<u64>(), n),
            proptest::collection::vec(any::<u64>(), n),
        ))
    ) {
        let want_h: u32 = a.iter().zip(&b).map(|(x, y)| (x ^ y).count_ones()).sum();
        let inter: u32 = a.iter().zip(&b).map(|(x, y)| (x & y).count_ones()).sum();
        let union: u32 = a.iter().zip(&b).map(|(x, y)| (x | y).count_ones()).sum();
        for k in available_kernels() {
            prop_assert_eq!(k.hamming(&a, &b), want_h);
        }
        prop_assert_eq!(hamming(&a, &b), want_h);
        let want_j = if union == 0 { 0.0 } else { 1.0 - inter as f32 / union as f32 };
        prop_assert!((jaccard(&a, &b) - want_j).abs() < 1e-6);
    }
}

proptest! {
    #[test]
    fn byte_dot_kernels_equal_their_scalar_twin(
        a in proptest::collection::vec(any::<u8>(), 0..300),
        b in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let want: u64 = a.iter().zip(&b).map(|(&x, &y)| u64::from(x) * u64::from(y)).sum();
        for k in available_kernels() {
            prop_assert_eq!(u64::from(k.dot_u8(&a, &b)), want, "{}", k.name);
        }
    }
}

#[test]
fn byte_dot_is_exact_at_the_largest_dimension() {
    let a = vec![255u8; 65_536];
    for k in available_kernels() {
        assert_eq!(k.dot_u8(&a, &a), 255 * 255 * 65_536, "{}", k.name);
    }
}

proptest! {
    /// Every byte kernel of this CPU (VNNI ones included where present)
    /// against the scalar twin, exactly, across lengths that cover every
    /// tail (the VNNI kernel steps 128 bytes, then masked 64-byte blocks).
    #[test]
    fn each_byte_kernel_equals_the_scalar_twin(
        a in proptest::collection::vec(any::<u8>(), 0..=300),
        b in proptest::collection::vec(any::<u8>(), 0..=300),
    ) {
        let want: u64 = a.iter().zip(&b).map(|(&x, &y)| u64::from(x) * u64::from(y)).sum();
        for k in available_byte_kernels() {
            prop_assert_eq!(u64::from(k.eval(&a, &b)), want, "{}", k.name);
        }
        prop_assert_eq!(u64::from(byte_kernel().eval(&a, &b)), want);
    }
}

#[test]
fn each_byte_kernel_is_exact_at_the_extremes() {
    // All 255s (largest sum) and 255 against 0 (largest negative part of
    // the VNNI split, `a (b - 128)`) at the largest exact dimension.
    let n = 66_051;
    let full = vec![255u8; n];
    let zero = vec![0u8; n];
    for k in available_byte_kernels() {
        assert_eq!(
            u64::from(k.eval(&full, &full)),
            255 * 255 * n as u64,
            "{}",
            k.name
        );
        assert_eq!(k.eval(&full, &zero), 0, "{}", k.name);
        assert_eq!(k.eval(&zero, &full), 0, "{}", k.name);
    }
    let names: Vec<&str> = available_byte_kernels().iter().map(|k| k.name).collect();
    assert_eq!(names.last(), Some(&"scalar"));
}

//! Byte tests on eight bytes at once, in a `u64` (little-endian): the scanners of `mask` and the
//! JSON writer use them to skip runs of ordinary bytes without a branch per byte. Each gives the
//! high bit of every byte that passes the test: exactly for every byte, or, for the cheaper
//! `lowest_*` forms, exactly for the lowest flagged byte only (what a search for the first match
//! needs).

/// `0x01` in every byte.
pub(crate) const LOW_BITS: u64 = 0x0101_0101_0101_0101;
/// `0x80` in every byte.
pub(crate) const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is below `n` (`n` at most `0x80`).
#[inline(always)]
pub(crate) fn bytes_below(word: u64, n: u8) -> u64 {
    debug_assert!(n <= 0x80);
    // Adding 0x80 - n to a byte's low 7 bits sets its high bit exactly when they are at least n,
    // with no carry into the next byte; bytes with their own high bit set are at least 0x80.
    !((word & !HIGH_BITS).wrapping_add((0x80 - u64::from(n)) * LOW_BITS) | word) & HIGH_BITS
}

/// The high bit of each byte of `word` that is zero.
#[inline(always)]
pub(crate) fn zero_bytes(word: u64) -> u64 {
    bytes_below(word, 1)
}

/// The high bit of each byte of `word` equal to `c`.
#[inline(always)]
pub(crate) fn bytes_equal(word: u64, c: u8) -> u64 {
    zero_bytes(word ^ (u64::from(c) * LOW_BITS))
}

/// Like [`bytes_below`], but only the lowest flagged byte is certain: borrows run upwards and
/// may flag bytes above it.
#[inline(always)]
pub(crate) fn lowest_bytes_below(word: u64, n: u8) -> u64 {
    word.wrapping_sub(u64::from(n) * LOW_BITS) & !word & HIGH_BITS
}

/// Like [`bytes_equal`], with the guarantee of [`lowest_bytes_below`].
#[inline(always)]
pub(crate) fn lowest_bytes_equal(word: u64, c: u8) -> u64 {
    lowest_bytes_below(word ^ (u64::from(c) * LOW_BITS), 1)
}

/// Up to 8 bytes of `b` as a little-endian word, the bytes past its end set to `pad`.
///
/// Copying a short slice into a `[u8; 8]` compiles to a call to `memcpy` followed by a wider load
/// of what it stored, which stalls on store forwarding; this reads with loads of fixed sizes
/// (overlapping when the length is not a power of two) and no store.
#[inline(always)]
pub(crate) fn load_word(b: &[u8], pad: u8) -> u64 {
    let n = b.len().min(8);
    let word = if n == 8 {
        u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    } else if n >= 4 {
        let lo = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let hi = u32::from_le_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
        // The overlap holds the same bytes in both halves, so or-ing them is exact.
        u64::from(lo) | (u64::from(hi) << (8 * (n - 4)))
    } else if n > 0 {
        u64::from(b[0])
            | (u64::from(b[n / 2]) << (8 * (n / 2)))
            | (u64::from(b[n - 1]) << (8 * (n - 1)))
    } else {
        0
    };
    if n == 8 {
        word
    } else {
        let kept = (1u64 << (8 * n)) - 1;
        word | ((u64::from(pad) * LOW_BITS) & !kept)
    }
}

/// Gathers the high bit of byte `i` into bit `i`.
#[inline(always)]
pub(crate) fn pack_high_bits(high: u64) -> u8 {
    // Each byte's flag (bit 8i after the shift) lands in bit 56 + i of the product.
    ((high >> 7).wrapping_mul(0x0102_0408_1020_4080) >> 56) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_in_every_position_is_tested_exactly() {
        for c in 0u8..=255 {
            for pos in 0..8 {
                for fill in [0u8, b'a', 0x1f, 0x7f, 0x80, 0xff, b'"'] {
                    let mut w = [fill; 8];
                    w[pos] = c;
                    let word = u64::from_le_bytes(w);
                    for n in [1u8, b' ', b'0', b':', 0x80] {
                        let want = w
                            .iter()
                            .enumerate()
                            .fold(0u64, |acc, (i, &b)| acc | (u64::from(b < n) << (8 * i + 7)));
                        assert_eq!(bytes_below(word, n), want, "{w:?} < {n}");
                    }
                    let want_eq = w
                        .iter()
                        .enumerate()
                        .fold(0u8, |acc, (i, &b)| acc | (u8::from(b == b'"') << i));
                    assert_eq!(pack_high_bits(bytes_equal(word, b'"')), want_eq);
                    let lowest = |flags: u64| flags & flags.wrapping_neg();
                    for n in [1u8, b' ', b'0', 0x80] {
                        assert_eq!(
                            lowest(lowest_bytes_below(word, n)),
                            lowest(bytes_below(word, n)),
                            "{w:?} < {n}"
                        );
                    }
                    assert_eq!(
                        lowest(lowest_bytes_equal(word, b'\\')),
                        lowest(bytes_equal(word, b'\\'))
                    );
                }
            }
        }
    }

    #[test]
    fn load_word_reads_every_length_and_pads() {
        let bytes: Vec<u8> = (1..=12).collect();
        for len in 0..=12 {
            for pad in [0u8, b'a', 0xff] {
                let b = &bytes[..len];
                let mut want = [pad; 8];
                let n = len.min(8);
                want[..n].copy_from_slice(&b[..n]);
                assert_eq!(load_word(b, pad), u64::from_le_bytes(want), "{len} {pad}");
            }
        }
    }
}

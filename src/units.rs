//! K/M/G suffixes (base 1024) sized to a column, as the Berkeley port report prints its numbers.
//!
//! The rule, read off the seed report (`docs/seeds/berkeley-port-report-format.txt`):
//! a column of width `w` keeps its last character for the suffix, so a number prints as is only
//! when it has at most `w - 1` digits (flows 46 in a 3-wide column, but 518 → `.5K`). Otherwise
//! the smallest unit (K, M, G, T, P, E) whose mantissa fits in `w - 1` characters is used, with
//! one decimal when that fits (`39.8M`, `.5K`: the leading zero goes) and rounded to a whole
//! number when it does not (`461K`, `6226K`); a decimal `.0` is not printed (`2M`). Rounding is
//! half up, done in integers so that 386.5 always becomes 387.

const SUFFIXES: [char; 6] = ['K', 'M', 'G', 'T', 'P', 'E'];

/// Formats `value` in at most `width` characters (`width` ≥ 3; smaller widths are treated as 3).
pub fn human(value: u64, width: usize) -> String {
    let mut s = String::with_capacity(width);
    write_human(&mut s, value, width);
    s
}

/// Appends the formatted `value` to `out` (unpadded); see [`human`].
pub fn write_human(out: &mut String, value: u64, width: usize) {
    use std::fmt::Write;
    let slot = width.max(3) - 1;
    if digits(value as u128) <= slot {
        let _ = write!(out, "{value}");
        return;
    }
    let v = value as u128;
    let mut divisor: u128 = 1;
    for suffix in SUFFIXES {
        divisor *= 1024;
        // Tenths, rounded half up.
        let tenths = (v * 20 + divisor) / (divisor * 2);
        let (whole, frac) = (tenths / 10, tenths % 10);
        if frac != 0 {
            // `0.5` prints as `.5`.
            let len = if whole == 0 { 2 } else { digits(whole) + 2 };
            if len <= slot {
                if whole != 0 {
                    let _ = write!(out, "{whole}");
                }
                let _ = write!(out, ".{frac}{suffix}");
                return;
            }
        }
        let rounded = (v * 2 + divisor) / (divisor * 2);
        if rounded > 0 && digits(rounded) <= slot {
            let _ = write!(out, "{rounded}{suffix}");
            return;
        }
    }
    // Unreachable for u64 and width ≥ 3 (u64::MAX is 16E); kept total rather than panicking.
    let _ = write!(out, "{value}");
}

fn digits(mut v: u128) -> usize {
    let mut n = 1;
    while v >= 10 {
        v /= 10;
        n += 1;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::human;

    /// Every pair the issue lists, from the seed's newsfeed rows (flows 3 wide, packets 4, bytes 5).
    #[test]
    fn seed_pairs() {
        let flows = [(518, ".5K"), (505, ".5K"), (1, "1"), (4, "4")];
        let packets = [
            (471877, "461K"),
            (67866, "66K"),
            (95359, "93K"),
            (395801, "387K"),
            (567236, "554K"),
            (463667, "453K"),
            (4, "4"),
            (0, "0"),
            (3, "3"),
            (7, "7"),
            (10, "10"),
        ];
        let bytes = [
            (484982747, "463M"),
            (6375734, "6226K"),
            (41749837, "39.8M"),
            (20807220, "19.8M"),
            (526732584, "502M"),
            (27182954, "25.9M"),
            (215, "215"),
            (144, "144"),
            (370, "370"),
            (514, "514"),
        ];
        for (v, want) in flows {
            assert_eq!(human(v, 3), want, "flows {v}");
        }
        for (v, want) in packets {
            assert_eq!(human(v, 4), want, "packets {v}");
        }
        for (v, want) in bytes {
            assert_eq!(human(v, 5), want, "bytes {v}");
        }
    }

    /// Shapes the seed's other tables show: raw up to w-1 digits, `.0` dropped, G past M.
    #[test]
    fn seed_shapes() {
        assert_eq!(human(99, 3), "99");
        assert_eq!(human(100, 3), ".1K");
        assert_eq!(human(4200, 3), "4K"); // `4.1K` would not fit
        assert_eq!(human(999, 4), "999");
        assert_eq!(human(7577, 4), "7.4K"); // 4 digits: the suffix column is reserved
        assert_eq!(human(2_097_152, 4), "2M"); // 2.0M prints as 2M
        assert_eq!(human(1_677_722, 4), "1.6M");
        assert_eq!(human(9999, 5), "9999");
        assert_eq!(human(42_600, 5), "41.6K");
        assert_eq!(human(10_125_000, 5), "9888K"); // K while four digits fit, not 9.7M
        assert_eq!(human(111_669_149_696, 5), "104G");
        assert_eq!(human(1_453_326_336, 5), "1386M");
    }

    #[test]
    fn boundaries() {
        // 9.96K rounds to 10.0: printed 10K, not 10.0K or 9.9K.
        assert_eq!(human(10_199, 4), "10K");
        // 999.6K does not fit 3 digits rounded (1000): the next unit is used.
        assert_eq!(human(1_023_590, 4), "1M");
        assert_eq!(human(1023, 4), "1K");
        assert_eq!(human(u64::MAX, 3), "16E");
        assert_eq!(human(u64::MAX, 5), "16E");
        assert_eq!(human(i64::MAX as u64, 4), "8E");
        // Half up: 386.5 → 387 (395776 = 386.5 × 1024).
        assert_eq!(human(395_776, 4), "387K");
        assert_eq!(human(395_775, 4), "386K");
    }

    /// Whatever the value, the result fits its column and reads back to within the rounding.
    #[test]
    fn always_fits() {
        let mut v: u64 = 1;
        while v < u64::MAX / 3 {
            for w in 3..=8 {
                for x in [v - 1, v, v + 1, v * 2 - 1] {
                    let s = human(x, w);
                    assert!(s.len() <= w, "{x} in {w}: {s}");
                    let (num, mult) = match s.chars().last() {
                        Some(c) if c.is_ascii_digit() => (s.as_str(), 1f64),
                        Some(c) => {
                            let i = super::SUFFIXES.iter().position(|&x| x == c).unwrap() as i32 + 1;
                            (&s[..s.len() - 1], 1024f64.powi(i))
                        }
                        None => panic!("empty"),
                    };
                    let back: f64 = num.parse::<f64>().unwrap() * mult;
                    let err = (back - x as f64).abs() / (x.max(1) as f64);
                    assert!(err <= 0.5, "{x} in {w}: {s} reads back as {back}");
                }
            }
            v = v * 3 + 7;
        }
    }
}

//! `memcpy` / `memmove` for the static musl build (what Azure runs).
//!
//! musl's x86_64 `memcpy` is `rep movsq` plus byte loops. `rep movs` has a start-up cost of
//! tens of cycles on AMD EPYC (no fast short `rep mov`), and ferry's copies are mostly
//! short: a poll sweep makes ~435 `memcpy` calls per polled copy, 96 % of them under 512
//! bytes (uprobe histogram, docs/performance.md). There musl's `memcpy` took 19 % of the
//! sweep's CPU (+3 % `memmove`), three quarters of it on the `rep movsq` instruction.
//!
//! No maintained crate replaces a libc's `memcpy` on stable Rust (`compiler_builtins`' `mem`
//! feature is for `no_std` targets built by rustc itself), so this one is written here:
//! copies up to 512 bytes as a few overlapping unaligned 16-byte loads and stores, longer
//! ones still `rep movsq`. The binary exports [`copy`] as `memcpy` and `memmove` on musl
//! only (`src/main.rs`), so the static link never pulls musl's; everything here is tested
//! on every target.
//!
//! There is no loop in this file: LLVM's loop-idiom pass could turn a loop of loads and
//! stores back into a `memcpy` call, which here would call itself. Straight-line code and
//! `rep movsq` cannot be.

#[cfg(target_arch = "x86_64")]
use core::arch::x86_64::__m128i as V;
#[cfg(not(target_arch = "x86_64"))]
type V = u128;

/// Copies `n` bytes from `src` to `dest` and returns `dest`; the regions may overlap
/// (`memmove` semantics, which `memcpy` callers get for free).
///
/// # Safety
/// `src` must be valid for reads and `dest` for writes of `n` bytes (the C contract).
// Always inlined: the exported `memcpy`/`memmove` are this function, not a call to it.
#[inline(always)]
pub unsafe fn copy(dest: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    let (d, s) = (dest, src);
    // SAFETY: every access below stays inside [src, src + n) / [dest, dest + n), which the
    // caller vouches for (each arm's lower bound keeps the offsets in range). Up to 256
    // bytes, every load happens before the first store, so overlap cannot corrupt the
    // source; 257..=512 takes the two-block path only when the regions are disjoint.
    unsafe {
        match n {
            0 => {}
            1 => d.write(s.read()),
            2..=3 => pair::<u16>(d, s, n),
            4..=7 => pair::<u32>(d, s, n),
            8..=16 => pair::<u64>(d, s, n),
            17..=32 => pair::<V>(d, s, n),
            33..=64 => ends!(d, s, n; 0 1),
            65..=128 => ends!(d, s, n; 0 1 2 3),
            129..=256 => ends!(d, s, n; 0 1 2 3 4 5 6 7),
            257..=512 if disjoint(d, s, n) => {
                block!(d, s, 0; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
                block!(d, s, n - 256; 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15);
            }
            _ => long(d, s, n),
        }
    }
    dest
}

/// Whether `[dest, dest + n)` and `[src, src + n)` do not overlap.
#[inline(always)]
fn disjoint(dest: *mut u8, src: *const u8, n: usize) -> bool {
    (dest as usize).abs_diff(src as usize) >= n
}

#[inline(always)]
unsafe fn load(p: *const u8, at: usize) -> V {
    // SAFETY: the caller's bounds; unaligned 16-byte load.
    unsafe { p.add(at).cast::<V>().read_unaligned() }
}

#[inline(always)]
unsafe fn store(p: *mut u8, at: usize, v: V) {
    // SAFETY: the caller's bounds; unaligned 16-byte store.
    unsafe { p.add(at).cast::<V>().write_unaligned(v) }
}

/// The first and the last `16 × k` bytes (k = number of indices), all loaded before any
/// store: covers any `n` in `16k..=32k`, overlapping or not. Written out, not looped.
macro_rules! ends {
    ($d:expr, $s:expr, $n:expr; $($i:literal)+) => {{
        let k = $n - 16 * [$($i),+].len();
        let head = [$(load($s, 16 * $i)),+];
        let tail = [$(load($s, k + 16 * $i)),+];
        $(store($d, 16 * $i, head[$i]);)+
        $(store($d, k + 16 * $i, tail[$i]);)+
    }};
}
use ends;

/// `16 × k` bytes at `at`, loaded then stored.
macro_rules! block {
    ($d:expr, $s:expr, $at:expr; $($i:literal)+) => {{
        let at = $at;
        let v = [$(load($s, at + 16 * $i)),+];
        $(store($d, at + 16 * $i, v[$i]);)+
    }};
}
use block;

/// One `T` from the start and one from the end, both loaded before either is stored: covers
/// any `n` in `size_of::<T>()..=2 * size_of::<T>()`, overlapping or not.
#[inline(always)]
unsafe fn pair<T: Copy>(dest: *mut u8, src: *const u8, n: usize) {
    let k = n - core::mem::size_of::<T>();
    // SAFETY: n >= size_of::<T>() (the caller's match arm), so both ends are in bounds.
    unsafe {
        let head = src.cast::<T>().read_unaligned();
        let tail = src.add(k).cast::<T>().read_unaligned();
        dest.cast::<T>().write_unaligned(head);
        dest.add(k).cast::<T>().write_unaligned(tail);
    }
}

/// Longer copies (and overlapping ones over 256 bytes): `rep movsq`, whose start-up cost no longer matters, forwards unless
/// the destination starts inside the source (then backwards, as musl does).
#[cfg(target_arch = "x86_64")]
#[inline(never)]
unsafe fn long(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: n > 256. All accesses are inside the two regions; rep movsq has the
    // architectural semantics of a quadword-at-a-time loop in the direction flag's
    // direction, so a forward copy is correct when dest is below src or apart from it and
    // a backward one when dest is above src. The direction flag is cleared again before
    // returning, as the ABI requires.
    unsafe {
        if (dest as usize).wrapping_sub(src as usize) >= n {
            // Forward. The last 16 bytes are loaded first and stored last: the quadwords
            // cover [0, 8 × ceil((n − 16) / 8)) and the tail whatever they leave.
            let tail = src.add(n - 16).cast::<V>().read_unaligned();
            core::arch::asm!(
                "rep movsq",
                inout("rcx") (n - 16).div_ceil(8) => _,
                inout("rdi") dest => _,
                inout("rsi") src => _,
                options(nostack, preserves_flags),
            );
            dest.add(n - 16).cast::<V>().write_unaligned(tail);
        } else {
            // Backward: quadwords from the end down to r = n − 8 × q (16 ≤ r < 24); the first
            // r bytes, loaded first, are stored last as [0, 16) and [r − 8, r).
            let q = (n - 16) / 8;
            let r = n - 8 * q;
            let head = src.cast::<V>().read_unaligned();
            let mid = src.add(r - 8).cast::<u64>().read_unaligned();
            core::arch::asm!(
                "std",
                "rep movsq",
                "cld",
                inout("rcx") q => _,
                inout("rdi") dest.add(n - 8) => _,
                inout("rsi") src.add(n - 8) => _,
                options(nostack),
            );
            dest.add(r - 8).cast::<u64>().write_unaligned(mid);
            dest.cast::<V>().write_unaligned(head);
        }
    }
}

#[cfg(not(target_arch = "x86_64"))]
unsafe fn long(dest: *mut u8, src: *const u8, n: usize) {
    // SAFETY: the caller's contract; `ptr::copy` is memmove. Never exported off x86_64.
    unsafe { core::ptr::copy(src, dest, n) }
}

#[cfg(test)]
mod tests {
    use super::copy;

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 131 + 7) as u8).collect()
    }

    /// Moves `n` bytes at `from` by `shift` inside one buffer of `len` bytes with `copy`
    /// and with `copy_within` (the standard library's memmove); the buffers must match.
    fn check_move(len: usize, from: usize, shift: i64, n: usize) {
        let base = pattern(len);
        let to = (from as i64 + shift) as usize;
        let mut expected = base.clone();
        expected.copy_within(from..from + n, to);
        let mut got = base;
        unsafe { copy(got.as_mut_ptr().add(to), got.as_ptr().add(from), n) };
        assert_eq!(got, expected, "n={n} shift={shift}");
    }

    /// Every length up to 1,100 (all arms, and `long` well past its switch) at every
    /// source/destination alignment mod 16, into a buffer whose surroundings must survive.
    #[test]
    fn copies_every_length_at_every_alignment() {
        let src = pattern(1200);
        for n in 0..=1100 {
            for so in 0..16 {
                for d_off in [0, 1, 7, 8, 9, 15] {
                    let mut dst = vec![0xAAu8; n + 64];
                    let r =
                        unsafe { copy(dst.as_mut_ptr().add(16 + d_off), src.as_ptr().add(so), n) };
                    assert_eq!(r, unsafe { dst.as_mut_ptr().add(16 + d_off) });
                    assert_eq!(
                        &dst[16 + d_off..16 + d_off + n],
                        &src[so..so + n],
                        "n={n} so={so}"
                    );
                    assert!(
                        dst[..16 + d_off].iter().all(|&b| b == 0xAA),
                        "n={n}: wrote before"
                    );
                    assert!(
                        dst[16 + d_off + n..].iter().all(|&b| b == 0xAA),
                        "n={n}: wrote after"
                    );
                }
            }
        }
    }

    /// Overlapping regions, both directions, every shift that overlaps for these lengths:
    /// the result must equal `copy_within` (the standard library's memmove).
    #[test]
    fn overlapping_copies_match_memmove() {
        let lens = (0..=300).chain([301, 333, 511, 512, 513, 777, 1024, 1031, 4096, 4103]);
        for n in lens {
            for shift in -40i64..=40 {
                check_move(n + 200, 100, shift, n);
            }
        }
    }

    /// Shifts wider than the fast paths' reach, into long copies (the rep movsq paths with
    /// distant overlap).
    #[test]
    fn long_overlaps_at_large_shifts() {
        for n in [257, 300, 400, 512, 513, 1000, 5000] {
            for shift in [
                -(n as i64),
                -(n as i64) + 1,
                -255,
                -129,
                -17,
                17,
                129,
                255,
                n as i64 - 1,
                n as i64,
            ] {
                check_move(3 * n + 10, n + 5, shift, n);
            }
        }
    }
}

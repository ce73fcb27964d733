//! Go's `math` functions, ported so that PromQL evaluates bit for bit as promtool 2.42 does
//! (Debian's, built with Go 1.19.8 for amd64). Rust's differ: `Max`/`Min` propagate NaN
//! (Rust's ignore it), and every transcendental function is Go's own algorithm, which the
//! C library's (what `f64::exp`, `f64::sin`… call) can differ from in the last bit, and
//! more than that where Go is less careful (`Log` of a subnormal, see [`log`]).
//!
//! What Go 1.19 runs on amd64, and so what this module runs on `x86_64`:
//! - `Exp` is assembly (`exp_amd64.s`, a Taylor series of `x/16` squared four times, not
//!   the pure-Go `exp`), with two paths chosen at run time: fused multiply-adds when the CPU
//!   has AVX and FMA (Go's `useFMA = cpu.X86.HasAVX && cpu.X86.HasFMA`), plain SSE2
//!   otherwise. Both are here; [`exp`] picks as Go does.
//! - `Log` is assembly (`log_amd64.s`): the pure-Go algorithm except that it takes the
//!   exponent from the bits without normalizing subnormals first.
//! - `Sin`, `Cos`, `Tan` (Cody-Waite reduction, Payne-Hanek beyond 2^29), `Sinh`, `Cosh`,
//!   `Tanh`, `Asinh`, `Acosh`, `Atanh`, `Log1p`, `Log10`, `Log2`, `Pow`, `Atan`, `Atan2`,
//!   `Asin`, `Acos` are pure Go (calling the assembly `Exp`/`Log` where Go does).
//!
//! On other targets the pure-Go `exp` and `log` are used, computed without fused
//! multiply-adds; Go on arm64 has an assembly `Exp` and fuses `x*y + z` in pure Go, so
//! there results may differ from that platform's promtool in the last bit (unverified).
//!
//! The constants are Go's, digit for digit (hence `clippy::excessive_precision` allowed).

/// Go's `int64(f)` on amd64 (CVTTSD2SQ): truncation toward zero, and `i64::MIN` for NaN,
/// ±Inf and anything outside the range (Rust's `as` saturates and maps NaN to 0 instead).
pub fn float_to_int64(f: f64) -> i64 {
    // 2^63: the first float above i64::MAX.
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if f.is_nan() || !(-TWO_63..TWO_63).contains(&f) {
        i64::MIN
    } else {
        f as i64
    }
}

/// Go `math.Max`.
pub fn max(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x > 0.0 || y.is_infinite() && y > 0.0 {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y {
        x
    } else {
        y
    }
}

/// Go `math.Min`.
pub fn min(x: f64, y: f64) -> f64 {
    if x.is_infinite() && x < 0.0 || y.is_infinite() && y < 0.0 {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y {
        x
    } else {
        y
    }
}

const MASK: u64 = 0x7ff;
const SHIFT: u32 = 52;
const BIAS: i64 = 1023;
const SMALLEST_NORMAL: f64 = 2.2250738585072014e-308;

/// Go `math.Frexp`: `f = frac × 2^exp` with `|frac|` in [½, 1).
pub fn frexp(f: f64) -> (f64, i64) {
    if f == 0.0 || f.is_infinite() || f.is_nan() {
        return (f, 0);
    }
    let (mut f, mut exp) = (f, 0i64);
    if f.abs() < SMALLEST_NORMAL {
        f *= (1u64 << 52) as f64;
        exp = -52;
    }
    let mut x = f.to_bits();
    exp += ((x >> SHIFT) & MASK) as i64 - BIAS + 1;
    x &= !(MASK << SHIFT);
    x |= ((-1 + BIAS) as u64) << SHIFT;
    (f64::from_bits(x), exp)
}

/// Go `math.Ldexp`: `frac × 2^exp`.
pub fn ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = if frac.abs() < SMALLEST_NORMAL {
        (frac * (1u64 << 52) as f64, -52)
    } else {
        (frac, 0)
    };
    let mut exp = exp + e;
    let mut x = frac.to_bits();
    exp += ((x >> SHIFT) & MASK) as i64 - BIAS;
    if exp < -1075 {
        return 0.0f64.copysign(frac);
    }
    if exp > 1023 {
        return if frac < 0.0 {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        };
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    x &= !(MASK << SHIFT);
    x |= ((exp + BIAS) as u64) << SHIFT;
    m * f64::from_bits(x)
}

fn is_odd_int(x: f64) -> bool {
    if x.abs() >= (1u64 << 53) as f64 {
        return false;
    }
    let xi = x.trunc();
    xi == x && (xi as i64) & 1 == 1
}

/// Go `math.Pow`.
pub fn pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        if y < 0.0 {
            if x.is_sign_negative() && is_odd_int(y) {
                return f64::NEG_INFINITY;
            }
            return f64::INFINITY;
        }
        if x.is_sign_negative() && is_odd_int(y) {
            return x;
        }
        return 0.0;
    }
    if y.is_infinite() {
        if x == -1.0 {
            return 1.0;
        }
        if (x.abs() < 1.0) == (y > 0.0) {
            return 0.0;
        }
        return f64::INFINITY;
    }
    if x.is_infinite() {
        if x < 0.0 {
            return pow(1.0 / x, -y);
        }
        if y < 0.0 {
            return 0.0;
        }
        return f64::INFINITY;
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let ya = y.abs();
    let mut yi = ya.trunc();
    let mut yf = ya - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9_223_372_036_854_775_808u64 as f64 {
        if x == -1.0 {
            return 1.0;
        }
        if (x.abs() < 1.0) == (y > 0.0) {
            return 0.0;
        }
        return f64::INFINITY;
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = exp(yf * log(x));
    }
    let (mut x1, mut xe) = frexp(x);
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    ldexp(a1, ae)
}

/// Go's `xatan`: a series valid in [0, 0.66]. The constants are Go's, digit for digit.
#[allow(clippy::excessive_precision)]
fn xatan(x: f64) -> f64 {
    const P0: f64 = -8.750608600031904122785e-01;
    const P1: f64 = -1.615753718733365076637e+01;
    const P2: f64 = -7.500855792314704667340e+01;
    const P3: f64 = -1.228866684490136173410e+02;
    const P4: f64 = -6.485021904942025371773e+01;
    const Q0: f64 = 2.485846490142306297962e+01;
    const Q1: f64 = 1.650270098316988542046e+02;
    const Q2: f64 = 4.328810604912902668951e+02;
    const Q3: f64 = 4.853903996359136964868e+02;
    const Q4: f64 = 1.945506571482613964425e+02;
    let mut z = x * x;
    z = z * ((((P0 * z + P1) * z + P2) * z + P3) * z + P4)
        / (((((z + Q0) * z + Q1) * z + Q2) * z + Q3) * z + Q4);
    x * z + x
}

/// Go's `satan`: reduces a positive argument to [0, 0.66].
#[allow(clippy::excessive_precision)]
fn satan(x: f64) -> f64 {
    const MOREBITS: f64 = 6.123233995736765886130e-17;
    const TAN3PIO8: f64 = 2.41421356237309504880;
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4};
    if x <= 0.66 {
        return xatan(x);
    }
    if x > TAN3PIO8 {
        return FRAC_PI_2 - xatan(1.0 / x) + MOREBITS;
    }
    FRAC_PI_4 + xatan((x - 1.0) / (x + 1.0)) + 0.5 * MOREBITS
}

/// Go `math.Atan` (pure Go on amd64; the C library's differs in the last bit).
pub fn atan(x: f64) -> f64 {
    if x == 0.0 || x.is_nan() {
        return x;
    }
    if x > 0.0 {
        satan(x)
    } else {
        -satan(-x)
    }
}

/// Go `math.Atan2`.
pub fn atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI};
    if y.is_nan() || x.is_nan() {
        return f64::NAN;
    }
    if y == 0.0 {
        if x >= 0.0 && !x.is_sign_negative() {
            return 0.0f64.copysign(y);
        }
        return PI.copysign(y);
    }
    if x == 0.0 {
        return FRAC_PI_2.copysign(y);
    }
    if x.is_infinite() {
        if x > 0.0 {
            return if y.is_infinite() {
                FRAC_PI_4.copysign(y)
            } else {
                0.0f64.copysign(y)
            };
        }
        return if y.is_infinite() {
            (3.0 * PI / 4.0).copysign(y)
        } else {
            PI.copysign(y)
        };
    }
    if y.is_infinite() {
        return FRAC_PI_2.copysign(y);
    }
    let q = atan(y / x);
    if x < 0.0 {
        if q <= 0.0 {
            return q + PI;
        }
        return q - PI;
    }
    q
}

/// Go `math.Asin`.
pub fn asin(x: f64) -> f64 {
    if x == 0.0 {
        return x;
    }
    let (x, sign) = if x < 0.0 { (-x, true) } else { (x, false) };
    if x > 1.0 || x.is_nan() {
        return f64::NAN;
    }
    let mut temp = (1.0 - x * x).sqrt();
    temp = if x > 0.7 {
        std::f64::consts::FRAC_PI_2 - satan(temp / x)
    } else {
        satan(x / temp)
    };
    if sign {
        -temp
    } else {
        temp
    }
}

/// Go `math.Acos`.
pub fn acos(x: f64) -> f64 {
    std::f64::consts::FRAC_PI_2 - asin(x)
}

/// Go `math.Exp`: the amd64 assembly on `x86_64` (FMA path when the CPU has AVX and FMA, as
/// Go decides), the pure-Go algorithm elsewhere.
pub fn exp(x: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        amd64_exp(x, amd64_use_fma())
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        pure_exp(x)
    }
}

/// Go's `useFMA` (`math/exp_amd64.go`, Go 1.19): `cpu.X86.HasAVX && cpu.X86.HasFMA`, both
/// requiring that the OS saves the AVX registers, as `is_x86_feature_detected!` does too.
#[cfg(target_arch = "x86_64")]
fn amd64_use_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx") && std::arch::is_x86_feature_detected!("fma")
}

/// `CVTSD2SL`: to int32 rounding to nearest even (the default MXCSR mode); out of range
/// gives the "integer indefinite" `i32::MIN`.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn cvtsd2sl(v: f64) -> i32 {
    let r = v.round_ties_even();
    if (-2_147_483_648.0..2_147_483_648.0).contains(&r) {
        r as i32
    } else {
        i32::MIN
    }
}

/// Go's `archExp` for amd64 (`math/exp_amd64.s`, after Shibata's SLEEF): `x = k·ln2 + r`,
/// `e^(r/16) - 1` by a Taylor series, squared four times as `y·(y+2)`, scaled by `2^k`.
/// `fma` picks the `VFMADD` path (each `a*b + c` rounded once) over the SSE2 one. As in Go,
/// `k = 1024` overflows: the result is +Inf from x ≈ 709.44, below ln(MaxFloat64) ≈ 709.78.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[allow(clippy::excessive_precision)]
fn amd64_exp(x: f64, fma: bool) -> f64 {
    // LOG2E is Go's 1.4426950408889634073599246810018920, std's `LOG2_E` to the bit.
    use std::f64::consts::LOG2_E as LOG2E;
    const LN2U: f64 = 0.69314718055966295651160180568695068359375;
    const LN2L: f64 = 0.28235290563031577122588448175013436025525412068e-12;
    const OVERFLOW: f64 = 7.09782712893384e+02;
    // Taylor coefficients 1/7! … 1/3!, then 1/2 and 1 (the assembly's `exprodata`).
    const T: [f64; 6] = [
        2.4801587301587301587e-5,
        1.9841269841269841270e-4,
        1.3888888888888888889e-3,
        8.3333333333333333333e-3,
        4.1666666666666666667e-2,
        1.6666666666666666667e-1,
    ];
    if !x.is_finite() {
        return if x == f64::NEG_INFINITY { 0.0 } else { x };
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    let k = cvtsd2sl(LOG2E * x);
    let kf = f64::from(k);
    let mut y;
    if fma {
        let r = (-kf).mul_add(LN2L, (-kf).mul_add(LN2U, x)) * 0.0625;
        let mut p = T[0];
        for c in &T[1..] {
            p = p.mul_add(r, *c);
        }
        p = p.mul_add(r, 0.5).mul_add(r, 1.0);
        y = r * p;
        for _ in 0..3 {
            y *= y + 2.0;
        }
        y = y.mul_add(y + 2.0, 1.0);
    } else {
        let r = (x - kf * LN2U - kf * LN2L) * 0.0625;
        let mut p = T[0];
        for c in &T[1..] {
            p = p * r + c;
        }
        p = (p * r + 0.5) * r + 1.0;
        y = r * p;
        for _ in 0..4 {
            y *= y + 2.0;
        }
        y += 1.0;
    }
    // y · 2^k, through a subnormal-safe two-step scaling as the assembly does.
    let mut e = k + 0x3ff;
    if e <= 0 {
        if e < -52 {
            return 0.0;
        }
        y *= f64::from_bits(((e + 0x3fe) as u64) << 52);
        e = 1;
    } else if e >= 0x7ff {
        return f64::INFINITY;
    }
    y * f64::from_bits((e as u64) << 52)
}

/// Go's pure-Go `exp` (`math/exp.go`), what Go runs where it has no assembly.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[allow(clippy::excessive_precision)]
fn pure_exp(x: f64) -> f64 {
    const LN2HI: f64 = 6.93147180369123816490e-01;
    const LN2LO: f64 = 1.90821492927058770002e-10;
    // Go's 1.44269504088896338700e+00, std's `LOG2_E` to the bit.
    use std::f64::consts::LOG2_E as LOG2E;
    const OVERFLOW: f64 = 7.09782712893383973096e+02;
    const UNDERFLOW: f64 = -7.45133219101941108420e+02;
    const NEAR_ZERO: f64 = 1.0 / (1u64 << 28) as f64;
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x == f64::NEG_INFINITY {
        return 0.0;
    }
    if x > OVERFLOW {
        return f64::INFINITY;
    }
    if x < UNDERFLOW {
        return 0.0;
    }
    if -NEAR_ZERO < x && x < NEAR_ZERO {
        return 1.0 + x;
    }
    let k: i64 = if x < 0.0 {
        (LOG2E * x - 0.5) as i64
    } else if x > 0.0 {
        (LOG2E * x + 0.5) as i64
    } else {
        0
    };
    let hi = x - k as f64 * LN2HI;
    let lo = k as f64 * LN2LO;
    expmulti(hi, lo, k)
}

/// Go's `expmulti`: `e^r · 2^k` for `r = hi - lo`.
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
#[allow(clippy::excessive_precision)]
fn expmulti(hi: f64, lo: f64, k: i64) -> f64 {
    const P1: f64 = 1.66666666666666657415e-01;
    const P2: f64 = -2.77777777770155933842e-03;
    const P3: f64 = 6.61375632143793436117e-05;
    const P4: f64 = -1.65339022054652515390e-06;
    const P5: f64 = 4.13813679705723846039e-08;
    let r = hi - lo;
    let t = r * r;
    let c = r - t * (P1 + t * (P2 + t * (P3 + t * (P4 + t * P5))));
    let y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi);
    ldexp(y, k)
}

// Go's `log` coefficients (FreeBSD's e_log.c), shared with `log1p`.
#[allow(clippy::excessive_precision)]
const LN2_HI: f64 = 6.93147180369123816490e-01;
#[allow(clippy::excessive_precision)]
const LN2_LO: f64 = 1.90821492927058770002e-10;
#[allow(clippy::excessive_precision)]
const LG: [f64; 7] = [
    6.666666666666735130e-01,
    3.999999999940941908e-01,
    2.857142874366239149e-01,
    2.222219843214978396e-01,
    1.818357216161805012e-01,
    1.531383769920937332e-01,
    1.479819860511658591e-01,
];

/// Go's `log` once `x = f1 · 2^ki` with `f1` in [√2/2, √2).
fn log_reduced(f1: f64, k: f64) -> f64 {
    let f = f1 - 1.0;
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let t1 = s2 * (LG[0] + s4 * (LG[2] + s4 * (LG[4] + s4 * LG[6])));
    let t2 = s4 * (LG[1] + s4 * (LG[3] + s4 * LG[5]));
    let r = t1 + t2;
    let hfsq = 0.5 * f * f;
    k * LN2_HI - ((hfsq - (s * (hfsq + r) + k * LN2_LO)) - f)
}

/// Go `math.Log`: the amd64 assembly on `x86_64`, the pure-Go algorithm elsewhere.
///
/// The assembly reads the exponent straight from the bits, so a subnormal `x` is taken
/// as `(1 + m/2^52) · 2^-1023` (its mantissa as if normal): `ln(5e-324)` is
/// `-709.0895657128241` in promtool, not `-744.44…`; reproduced.
pub fn log(x: f64) -> f64 {
    #[cfg(target_arch = "x86_64")]
    {
        amd64_log(x)
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        pure_log(x)
    }
}

/// Go's `archLog` for amd64 (`math/log_amd64.s`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
#[allow(clippy::excessive_precision)]
fn amd64_log(x: f64) -> f64 {
    // Go's 7.07106781186547524401e-01, std's `FRAC_1_SQRT_2` to the bit.
    use std::f64::consts::FRAC_1_SQRT_2 as HSQRT2;
    let bits = x.to_bits();
    if bits & !(1 << 63) == 0 {
        return f64::NEG_INFINITY;
    }
    if (bits as i64) < 0 {
        // Any sign bit set, NaNs included.
        return f64::NAN;
    }
    if bits >= f64::INFINITY.to_bits() {
        return x;
    }
    let mut f1 = f64::from_bits(bits & ((1 << 52) - 1) | 0.5f64.to_bits());
    let mut k = f64::from(((bits >> 52) & 0x7ff) as i32 - 0x3fe);
    if f1 < HSQRT2 {
        k -= 1.0;
        f1 *= 2.0;
    }
    log_reduced(f1, k)
}

/// Go's pure-Go `log` (`math/log.go`).
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn pure_log(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut ki) = frexp(x);
    if f1 < std::f64::consts::FRAC_1_SQRT_2 {
        f1 *= 2.0;
        ki -= 1;
    }
    log_reduced(f1, ki as f64)
}

/// Go `math.Log10`: `Log(x) · (1/Ln10)`.
pub fn log10(x: f64) -> f64 {
    log(x) * std::f64::consts::LOG10_E
}

/// Go `math.Log2`: exact for powers of two, else `Log(frac) · (1/Ln2) + exp`.
pub fn log2(x: f64) -> f64 {
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return (exp - 1) as f64;
    }
    log(frac) * std::f64::consts::LOG2_E + exp as f64
}

/// Go `math.Log1p` (pure Go on amd64).
#[allow(clippy::excessive_precision)]
fn log1p(x: f64) -> f64 {
    const SQRT2_M1: f64 = 4.142135623730950488017e-01;
    const SQRT2_HALF_M1: f64 = -2.928932188134524755992e-01;
    const SMALL: f64 = 1.0 / (1u64 << 29) as f64;
    const TINY: f64 = 1.0 / (1u64 << 54) as f64;
    const TWO53: f64 = (1u64 << 53) as f64;
    if x < -1.0 || x.is_nan() {
        return f64::NAN;
    }
    if x == -1.0 {
        return f64::NEG_INFINITY;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    let absx = x.abs();
    let mut f = 0.0;
    let mut iu: u64 = 0;
    let mut k: i64 = 1;
    if absx < SQRT2_M1 {
        if absx < SMALL {
            if absx < TINY {
                return x;
            }
            return x - x * x * 0.5;
        }
        if x > SQRT2_HALF_M1 {
            k = 0;
            f = x;
            iu = 1;
        }
    }
    let mut c = 0.0;
    if k != 0 {
        let mut u;
        if absx < TWO53 {
            u = 1.0 + x;
            iu = u.to_bits();
            k = (iu >> 52) as i64 - 1023;
            c = if k > 0 { 1.0 - (u - x) } else { x - (u - 1.0) };
            c /= u;
        } else {
            u = x;
            iu = u.to_bits();
            k = (iu >> 52) as i64 - 1023;
            c = 0.0;
        }
        iu &= 0x000f_ffff_ffff_ffff;
        if iu < 0x0006_a09e_667f_3bcd {
            u = f64::from_bits(iu | 0x3ff0_0000_0000_0000);
        } else {
            k += 1;
            u = f64::from_bits(iu | 0x3fe0_0000_0000_0000);
            iu = (0x0010_0000_0000_0000 - iu) >> 2;
        }
        f = u - 1.0;
    }
    let hfsq = 0.5 * f * f;
    let kf = k as f64;
    if iu == 0 {
        if f == 0.0 {
            if k == 0 {
                return 0.0;
            }
            c += kf * LN2_LO;
            return kf * LN2_HI + c;
        }
        let r = hfsq * (1.0 - 0.66666666666666666 * f);
        if k == 0 {
            return f - r;
        }
        return kf * LN2_HI - ((r - (kf * LN2_LO + c)) - f);
    }
    let s = f / (2.0 + f);
    let z = s * s;
    let r = z
        * (LG[0] + z * (LG[1] + z * (LG[2] + z * (LG[3] + z * (LG[4] + z * (LG[5] + z * LG[6]))))));
    if k == 0 {
        return f - (hfsq - s * (hfsq + r));
    }
    kf * LN2_HI - ((hfsq - (s * (hfsq + r) + (kf * LN2_LO + c))) - f)
}

// Go's `sin.go` (Cephes): π/4 in three parts, and the sine and cosine polynomials.
#[allow(clippy::excessive_precision)]
const PI4A: f64 = 7.85398125648498535156e-1;
#[allow(clippy::excessive_precision)]
const PI4B: f64 = 3.77489470793079817668e-8;
#[allow(clippy::excessive_precision)]
const PI4C: f64 = 2.69515142907905952645e-15;
#[allow(clippy::excessive_precision)]
const SIN: [f64; 6] = [
    1.58962301576546568060e-10,
    -2.50507477628578072866e-8,
    2.75573136213857245213e-6,
    -1.98412698295895385996e-4,
    8.33333333332211858878e-3,
    -1.66666666666666307295e-1,
];
#[allow(clippy::excessive_precision)]
const COS: [f64; 6] = [
    -1.13585365213876817300e-11,
    2.08757008419747316778e-9,
    -2.75573141792967388112e-7,
    2.48015872888517045348e-5,
    -1.38888888888730564116e-3,
    4.16666666666665929218e-2,
];
/// Go's `reduceThreshold`: Payne-Hanek beyond, Cody-Waite below.
const REDUCE_THRESHOLD: f64 = (1u64 << 29) as f64;

fn sin_poly(z: f64, zz: f64) -> f64 {
    z + z
        * zz
        * (((((SIN[0] * zz + SIN[1]) * zz + SIN[2]) * zz + SIN[3]) * zz + SIN[4]) * zz + SIN[5])
}

fn cos_poly(zz: f64) -> f64 {
    1.0 - 0.5 * zz
        + zz * zz
            * (((((COS[0] * zz + COS[1]) * zz + COS[2]) * zz + COS[3]) * zz + COS[4]) * zz + COS[5])
}

/// Octant `j` (zeros mapped to the origin) and the remainder `z` of a non-negative `x`,
/// as Go's `sin`, `cos` and `tan` compute them. `mod8`: whether `j` is reduced modulo 8
/// (`tan` does not, and only tests `j & 2`).
fn trig_octant(x: f64, mod8: bool) -> (u64, f64) {
    if x >= REDUCE_THRESHOLD {
        return trig_reduce(x);
    }
    // 4/π rounded, as Go's constant expression `4 / Pi` is (2/π doubles exactly).
    let mut j = (x * (2.0 * std::f64::consts::FRAC_2_PI)) as u64;
    let mut y = j as f64;
    if j & 1 == 1 {
        j += 1;
        y += 1.0;
    }
    if mod8 {
        j &= 7;
    }
    (j, ((x - y * PI4A) - y * PI4B) - y * PI4C)
}

/// Go `math.Sin`.
pub fn sin(x: f64) -> f64 {
    if x == 0.0 || x.is_nan() {
        return x;
    }
    if x.is_infinite() {
        return f64::NAN;
    }
    let (x, mut sign) = if x < 0.0 { (-x, true) } else { (x, false) };
    let (mut j, z) = trig_octant(x, true);
    if j > 3 {
        sign = !sign;
        j -= 4;
    }
    let zz = z * z;
    let y = if j == 1 || j == 2 {
        cos_poly(zz)
    } else {
        sin_poly(z, zz)
    };
    if sign {
        -y
    } else {
        y
    }
}

/// Go `math.Cos`.
pub fn cos(x: f64) -> f64 {
    if x.is_nan() || x.is_infinite() {
        return f64::NAN;
    }
    let mut sign = false;
    let (mut j, z) = trig_octant(x.abs(), true);
    if j > 3 {
        j -= 4;
        sign = !sign;
    }
    if j > 1 {
        sign = !sign;
    }
    let zz = z * z;
    let y = if j == 1 || j == 2 {
        sin_poly(z, zz)
    } else {
        cos_poly(zz)
    };
    if sign {
        -y
    } else {
        y
    }
}

/// Go `math.Tan`.
#[allow(clippy::excessive_precision)]
pub fn tan(x: f64) -> f64 {
    const P: [f64; 3] = [
        -1.30936939181383777646e4,
        1.15351664838587416140e6,
        -1.79565251976484877988e7,
    ];
    const Q: [f64; 4] = [
        1.36812963470692954678e4,
        -1.32089234440210967447e6,
        2.50083801823357915839e7,
        -5.38695755929454629881e7,
    ];
    if x == 0.0 || x.is_nan() {
        return x;
    }
    if x.is_infinite() {
        return f64::NAN;
    }
    let (x, sign) = if x < 0.0 { (-x, true) } else { (x, false) };
    let (j, z) = trig_octant(x, false);
    let zz = z * z;
    let mut y = if zz > 1e-14 {
        z + z
            * (zz * ((P[0] * zz + P[1]) * zz + P[2])
                / ((((zz + Q[0]) * zz + Q[1]) * zz + Q[2]) * zz + Q[3]))
    } else {
        z
    };
    if j & 2 == 2 {
        y = -1.0 / y;
    }
    if sign {
        -y
    } else {
        y
    }
}

/// 4/π in binary, 64 bits a digit (Go's `mPi4`), for the Payne-Hanek reduction.
const M_PI4: [u64; 20] = [
    0x0000000000000001,
    0x45f306dc9c882a53,
    0xf84eafa3ea69bb81,
    0xb6c52b3278872083,
    0xfca2c757bd778ac3,
    0x6e48dc74849ba5c0,
    0x0c925dd413a32439,
    0xfc3bd63962534e7d,
    0xd1046bea5d768909,
    0xd338e04d68befc82,
    0x7323ac7306a673e9,
    0x3908bf177bf25076,
    0x3ff12fffbc0b301f,
    0xde5e2316b414da3e,
    0xda6cfd9e4f96136e,
    0x9e8c7ecd3cbfd45a,
    0xea4f758fd7cbe2f6,
    0x7a0e73ef14a525d4,
    0xd7f6bf623f1aba10,
    0xac06608df8f6d757,
];

/// Go's `<<` on `uint64`: a shift by 64 or more gives 0.
fn shl(a: u64, n: u32) -> u64 {
    a.checked_shl(n).unwrap_or(0)
}

/// Go's `>>` on `uint64`: a shift by 64 or more gives 0.
fn shr(a: u64, n: u32) -> u64 {
    a.checked_shr(n).unwrap_or(0)
}

/// Go's `trigReduce` (Payne-Hanek): the octant and the remainder of `x ≥ 2^29`, multiplying
/// the mantissa by the digits of 4/π that matter at its exponent.
fn trig_reduce(x: f64) -> (u64, f64) {
    use std::f64::consts::FRAC_PI_4;
    if x < FRAC_PI_4 {
        return (0, x);
    }
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i64 - 1023 - 52;
    let ix = bits & !(0x7ff << 52) | 1 << 52;
    // exp ≥ -53 for x ≥ π/4, < 971 for a finite x: the index stays in M_PI4.
    let digit = ((exp + 61) / 64) as usize;
    let bitshift = ((exp + 61) % 64) as u32;
    let part = |i: usize| shl(M_PI4[i], bitshift) | shr(M_PI4[i + 1], 64 - bitshift);
    let (z0, z1, z2) = (part(digit), part(digit + 1), part(digit + 2));
    let z2hi = ((u128::from(z2) * u128::from(ix)) >> 64) as u64;
    let z1p = u128::from(z1) * u128::from(ix);
    let (z1hi, z1lo) = ((z1p >> 64) as u64, z1p as u64);
    let z0lo = z0.wrapping_mul(ix);
    let (lo, carry) = z1lo.overflowing_add(z2hi);
    let hi = z0lo.wrapping_add(z1hi).wrapping_add(u64::from(carry));
    let mut j = hi >> 61;
    let hi = hi << 3 | lo >> 61;
    let lz = hi.leading_zeros();
    let e = 1023 - u64::from(lz + 1);
    let mut hi = shl(hi, lz + 1) | shr(lo, 64u32.wrapping_sub(lz + 1));
    hi >>= 64 - 52;
    hi |= e << 52;
    let mut z = f64::from_bits(hi);
    if j & 1 == 1 {
        j = (j + 1) & 7;
        z -= 1.0;
    }
    (j, z * FRAC_PI_4)
}

/// Go `math.Sinh`.
#[allow(clippy::excessive_precision)]
pub fn sinh(x: f64) -> f64 {
    // Hart & Cheney #2029.
    const P0: f64 = -0.6307673640497716991184787251e+6;
    const P1: f64 = -0.8991272022039509355398013511e+5;
    const P2: f64 = -0.2894211355989563807284660366e+4;
    const P3: f64 = -0.2630563213397497062819489e+2;
    const Q0: f64 = -0.6307673640497716991212077277e+6;
    const Q1: f64 = 0.1521517378790019070696485176e+5;
    const Q2: f64 = -0.173678953558233699533450911e+3;
    let (x, sign) = if x < 0.0 { (-x, true) } else { (x, false) };
    let temp = if x > 21.0 {
        exp(x) * 0.5
    } else if x > 0.5 {
        let ex = exp(x);
        (ex - 1.0 / ex) * 0.5
    } else {
        let sq = x * x;
        let t = (((P3 * sq + P2) * sq + P1) * sq + P0) * x;
        t / (((sq + Q2) * sq + Q1) * sq + Q0)
    };
    if sign {
        -temp
    } else {
        temp
    }
}

/// Go `math.Cosh`.
pub fn cosh(x: f64) -> f64 {
    let x = x.abs();
    if x > 21.0 {
        return exp(x) * 0.5;
    }
    let ex = exp(x);
    (ex + 1.0 / ex) * 0.5
}

/// Go `math.Tanh`.
#[allow(clippy::excessive_precision)]
pub fn tanh(x: f64) -> f64 {
    const P: [f64; 3] = [
        -9.64399179425052238628e-1,
        -9.92877231001918586564e1,
        -1.61468768441708447952e3,
    ];
    const Q: [f64; 3] = [
        1.12811678491632931402e2,
        2.23548839060100448583e3,
        4.84406305325125486048e3,
    ];
    const MAXLOG: f64 = 8.8029691931113054295988e+01;
    let z = x.abs();
    if z > 0.5 * MAXLOG {
        return if x < 0.0 { -1.0 } else { 1.0 };
    }
    if z >= 0.625 {
        let s = exp(2.0 * z);
        let z = 1.0 - 2.0 / (s + 1.0);
        return if x < 0.0 { -z } else { z };
    }
    if x == 0.0 {
        return x;
    }
    let s = x * x;
    x + x * s * ((P[0] * s + P[1]) * s + P[2]) / (((s + Q[0]) * s + Q[1]) * s + Q[2])
}

/// Go `math.Asinh`.
pub fn asinh(x: f64) -> f64 {
    use std::f64::consts::LN_2;
    const NEAR_ZERO: f64 = 1.0 / (1u64 << 28) as f64;
    const LARGE: f64 = (1u64 << 28) as f64;
    if x.is_nan() || x.is_infinite() {
        return x;
    }
    let (x, sign) = if x < 0.0 { (-x, true) } else { (x, false) };
    let temp = if x > LARGE {
        log(x) + LN_2
    } else if x > 2.0 {
        log(2.0 * x + 1.0 / ((x * x + 1.0).sqrt() + x))
    } else if x < NEAR_ZERO {
        x
    } else {
        log1p(x + x * x / (1.0 + (1.0 + x * x).sqrt()))
    };
    if sign {
        -temp
    } else {
        temp
    }
}

/// Go `math.Acosh`.
pub fn acosh(x: f64) -> f64 {
    const LARGE: f64 = (1u64 << 28) as f64;
    if x < 1.0 || x.is_nan() {
        return f64::NAN;
    }
    if x == 1.0 {
        return 0.0;
    }
    if x >= LARGE {
        return log(x) + std::f64::consts::LN_2;
    }
    if x > 2.0 {
        return log(2.0 * x - 1.0 / (x + (x * x - 1.0).sqrt()));
    }
    let t = x - 1.0;
    log1p(t + (2.0 * t + t * t).sqrt())
}

/// Go `math.Atanh`.
pub fn atanh(x: f64) -> f64 {
    const NEAR_ZERO: f64 = 1.0 / (1u64 << 28) as f64;
    if !(-1.0..=1.0).contains(&x) {
        // NaN too.
        return f64::NAN;
    }
    if x == 1.0 {
        return f64::INFINITY;
    }
    if x == -1.0 {
        return f64::NEG_INFINITY;
    }
    let (x, sign) = if x < 0.0 { (-x, true) } else { (x, false) };
    let temp = if x < NEAR_ZERO {
        x
    } else if x < 0.5 {
        let t = x + x;
        0.5 * log1p(t + t * x / (1.0 - x))
    } else {
        0.5 * log1p((x + x) / (1.0 - x))
    };
    if sign {
        -temp
    } else {
        temp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// promtool's outputs, see the file's header.
    #[cfg(target_arch = "x86_64")]
    const PROMTOOL: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/gomath/promtool-2.42-amd64.txt"
    ));

    /// The function a column of `PROMTOOL` names; `fma` picks `Exp`'s path for `exp`
    /// (elsewhere the path is this machine's, as in promtool).
    #[cfg(target_arch = "x86_64")]
    fn column_fn(name: &str, fma: bool) -> Option<Box<dyn Fn(f64) -> f64>> {
        Some(match name {
            "exp" => Box::new(move |x| amd64_exp(x, fma)),
            "ln" => Box::new(log),
            "log2" => Box::new(log2),
            "log10" => Box::new(log10),
            "sin" => Box::new(sin),
            "cos" => Box::new(cos),
            "tan" => Box::new(tan),
            "sinh" => Box::new(sinh),
            "cosh" => Box::new(cosh),
            "tanh" => Box::new(tanh),
            "asinh" => Box::new(asinh),
            "acosh" => Box::new(acosh),
            "atanh" => Box::new(atanh),
            "pow_1.7" => Box::new(|x| pow(x, 1.7)),
            "pow_0.3" => Box::new(|x| pow(x, 0.3)),
            "pow_-2.6" => Box::new(|x| pow(x, -2.6)),
            "pow_base3.3" => Box::new(|x| pow(3.3, x)),
            _ => return None,
        })
    }

    /// Every value promtool printed, bit for bit (NaN for NaN): both of `Exp`'s paths, and
    /// the functions calling `Exp` with the path this machine takes.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn bit_identical_to_promtool() {
        let machine_fma = amd64_use_fma();
        let mut lines = PROMTOOL.lines().filter(|l| !l.starts_with('#'));
        let header: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
        assert_eq!(header[0], "input");
        let (mut checked, mut wrong) = (0, Vec::new());
        for line in lines {
            let row: Vec<&str> = line.split(' ').collect();
            assert_eq!(row.len(), header.len(), "{line}");
            let x = f64::from_bits(u64::from_str_radix(row[0], 16).unwrap());
            for (i, col) in header.iter().enumerate().skip(1) {
                let (name, nofma) = match col.strip_suffix("/nofma") {
                    Some(name) => (name, true),
                    None => (*col, false),
                };
                // `=`: as the FMA column.
                let text = if row[i] == "=" { row[i - 1] } else { row[i] };
                // Outside `exp`, only the column of this machine's path can be reproduced.
                let has_nofma = header.get(i + 1) == Some(&format!("{col}/nofma").as_str());
                let other_path = if nofma {
                    machine_fma
                } else {
                    has_nofma && !machine_fma
                };
                if name != "exp" && other_path {
                    continue;
                }
                let want: f64 = text.parse().unwrap();
                let f = column_fn(name, !nofma).unwrap_or_else(|| panic!("column {col}"));
                let got = f(x);
                checked += 1;
                if !(got.to_bits() == want.to_bits() || got.is_nan() && want.is_nan()) {
                    wrong.push(format!("{col}({x:e}) = {got:e}, promtool {text}"));
                }
            }
        }
        assert!(checked > 8000, "{checked}");
        assert!(
            wrong.is_empty(),
            "{} of {checked} differ:\n{}",
            wrong.len(),
            wrong.join("\n")
        );
    }

    #[test]
    fn pure_go_log_is_the_assembly_for_normal_numbers() {
        for x in [1e-300, 0.1, 0.5, 0.7, 1.0, 1.5, 3.0, 1e10, 1e300] {
            assert_eq!(pure_log(x).to_bits(), amd64_log(x).to_bits(), "{x}");
        }
        // Subnormals: the assembly skips Frexp's normalization (as promtool shows).
        assert_eq!(amd64_log(5e-324), -709.0895657128241);
        assert!((pure_log(5e-324) + 744.4400719213812).abs() < 1e-12);
    }

    #[test]
    fn pure_go_exp_is_within_an_ulp_of_the_assembly() {
        for x in [
            -745.0, -700.0, -1.5, -1e-9, 0.0, 1e-9, 0.3, 1.0, 10.0, 700.0, 709.4,
        ] {
            let (a, b) = (pure_exp(x), amd64_exp(x, false));
            assert!(
                (a.to_bits() as i64 - b.to_bits() as i64).abs() <= 1,
                "{x}: {a} {b}"
            );
        }
        assert_eq!(pure_exp(f64::NEG_INFINITY), 0.0);
        assert_eq!(pure_exp(710.0), f64::INFINITY);
        // The assembly overflows from 709.44 (k = 1024), below ln(MaxFloat64) ≈ 709.78; so
        // does promtool: `exp(709.5)` is +Inf there.
        assert!(pure_exp(709.5).is_finite());
        assert_eq!(amd64_exp(709.5, true), f64::INFINITY);
        assert_eq!(amd64_exp(709.43, true), 1.2633808701860083e308);
    }

    #[test]
    fn go_log2_is_exact_for_powers_of_two() {
        assert_eq!(log2(8.0), 3.0);
        assert_eq!(log2(0.25), -2.0);
    }

    #[test]
    fn max_min_propagate_nan_and_order_zeros() {
        assert!(max(1.0, f64::NAN).is_nan());
        assert!(min(f64::NAN, 1.0).is_nan());
        assert_eq!(max(f64::NAN, f64::INFINITY), f64::INFINITY);
        assert!(max(-0.0, 0.0).is_sign_positive());
        assert!(min(-0.0, 0.0).is_sign_negative());
        assert_eq!(max(1.0, 2.0), 2.0);
        assert_eq!(min(1.0, 2.0), 1.0);
    }

    #[test]
    fn frexp_ldexp_round_trip() {
        for v in [
            1.0,
            0.75,
            -3.5,
            1e300,
            5e-324,
            2.2250738585072014e-308,
            123.456,
        ] {
            let (f, e) = frexp(v);
            assert!((0.5..1.0).contains(&f.abs()), "{v}: {f}");
            assert_eq!(ldexp(f, e), v);
        }
        assert_eq!(ldexp(1.0, -1075), 0.0);
        assert_eq!(ldexp(1.0, 1024), f64::INFINITY);
    }

    #[test]
    fn pow_special_cases_and_integers() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(2.0, -2.0), 0.25);
        assert_eq!(pow(-2.0, 3.0), -8.0);
        assert_eq!(pow(9.0, 0.5), 3.0);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        assert_eq!(pow(-0.0, -1.0), f64::NEG_INFINITY);
        assert_eq!(pow(f64::NAN, 0.0), 1.0);
        assert_eq!(pow(1.0, f64::NAN), 1.0);
        assert_eq!(pow(10.0, 400.0), f64::INFINITY);
    }
}

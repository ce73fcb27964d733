//! Go's `fmt` for template values: `Sprintf` verbs and flags, `Sprint`/`Sprintln` spacing,
//! `%v` printing of maps/slices, and `strconv` float formatting ('e', 'f', 'g', shortest).

use super::value::Value;

/// Flags, width and precision of one verb.
#[derive(Clone, Debug, Default)]
pub struct Spec {
    pub minus: bool,
    pub plus: bool,
    pub space: bool,
    pub zero: bool,
    pub sharp: bool,
    pub width: Option<usize>,
    pub prec: Option<usize>,
}

/// Go's `fmt.Sprintf(format, args...)`.
/// A port of Go's `doPrintf` loop (argument indexes, flags, width, precision, verbs,
/// `%!verb(...)` errors), kept as one loop to stay comparable with upstream.
pub fn sprintf(format: &str, args: &[Value]) -> String {
    let mut out = String::with_capacity(format.len() + 16);
    let mut argi = 0;
    let bytes = format.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        while i < bytes.len() && bytes[i] != b'%' {
            i += 1;
        }
        out.push_str(&format[start..i]);
        if i >= bytes.len() {
            break;
        }
        i += 1; // '%'
        let mut spec = Spec::default();
        // flags
        while i < bytes.len() {
            match bytes[i] {
                b'-' => {
                    spec.minus = true;
                    spec.zero = false;
                }
                b'+' => spec.plus = true,
                b' ' => spec.space = true,
                b'0' => spec.zero = !spec.minus,
                b'#' => spec.sharp = true,
                _ => break,
            }
            i += 1;
        }
        // width
        if i < bytes.len() && bytes[i] == b'*' {
            i += 1;
            match args.get(argi) {
                Some(Value::Int(n)) if n.unsigned_abs() <= 1_000_000 => {
                    if *n < 0 {
                        spec.minus = true;
                        spec.zero = false;
                    }
                    spec.width = Some(n.unsigned_abs() as usize);
                }
                _ => out.push_str("%!(BADWIDTH)"),
            }
            argi += 1;
        } else {
            let (n, ni) = parse_num(bytes, i);
            spec.width = n;
            i = ni;
        }
        // precision
        if i < bytes.len() && bytes[i] == b'.' {
            i += 1;
            if i < bytes.len() && bytes[i] == b'*' {
                i += 1;
                match args.get(argi) {
                    Some(Value::Int(n)) if (0..=1_000_000).contains(n) => {
                        spec.prec = Some(*n as usize)
                    }
                    _ => out.push_str("%!(BADPREC)"),
                }
                argi += 1;
            } else {
                let (n, ni) = parse_num(bytes, i);
                spec.prec = Some(n.unwrap_or(0));
                i = ni;
            }
        }
        if i >= bytes.len() {
            out.push_str("%!(NOVERB)");
            break;
        }
        let verb = match format[i..].chars().next() {
            Some(c) => c,
            None => break,
        };
        i += verb.len_utf8();
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(argi) {
            None => {
                out.push_str("%!");
                out.push(verb);
                out.push_str("(MISSING)");
            }
            Some(v) if verb == 'T' => {
                let t = match v {
                    Value::Nil => "<nil>".to_string(),
                    v => v.type_name(),
                };
                pad(&mut out, &t, &spec, false);
            }
            Some(v) if verb == 'v' && spec.sharp => {
                let mut s = String::new();
                go_syntax(&mut s, v, true);
                pad(&mut out, &s, &spec, false);
            }
            Some(v) => {
                // %+v only asks for struct field names; it is not a sign flag.
                let mut spec = spec.clone();
                if verb == 'v' {
                    spec.plus = false;
                }
                format_value(&mut out, v, verb, &spec)
            }
        }
        argi += 1;
    }
    if argi < args.len() {
        out.push_str("%!(EXTRA ");
        for (n, a) in args[argi..].iter().enumerate() {
            if n > 0 {
                out.push_str(", ");
            }
            if matches!(a, Value::Nil) {
                out.push_str("<nil>");
            } else {
                out.push_str(&a.type_name());
                out.push('=');
                a.write_go(&mut out);
            }
        }
        out.push(')');
    }
    out
}

fn parse_num(b: &[u8], mut i: usize) -> (Option<usize>, usize) {
    let start = i;
    let mut n: usize = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        // Go's parsenum: a number past 10^6 is "crazy long", not a number, and the rest of
        // the format is consumed (so the verb is missing).
        if n > 1_000_000 {
            return (None, b.len());
        }
        n = n * 10 + usize::from(b[i] - b'0');
        i += 1;
    }
    if i == start {
        (None, i)
    } else {
        (Some(n), i)
    }
}

/// Go's `%#v` (Go-syntax representation) for the kinds templates handle. `top` is false for
/// elements, whose type Go does not repeat for composite literals of interfaces.
fn go_syntax(out: &mut String, v: &Value, top: bool) {
    go_syntax_named(out, v, top, None);
}

fn go_syntax_named(out: &mut String, v: &Value, top: bool, type_name: Option<&str>) {
    match v {
        Value::Nil => out.push_str(if top { "<nil>" } else { "interface {}(nil)" }),
        Value::String(s) => out.push_str(&crate::base::go::quote(s)),
        Value::Float(f) => {
            let s = strconv_float(*f, 'g', None);
            out.push_str(&s);
        }
        Value::List(l) => {
            out.push_str(type_name.unwrap_or(&v.type_name()));
            out.push('{');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                go_syntax(out, e, false);
            }
            out.push('}');
        }
        Value::Map(m) => {
            out.push_str(type_name.unwrap_or(&m.type_name()));
            out.push('{');
            for (i, (k, e)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                out.push_str(&crate::base::go::quote(k));
                out.push(':');
                go_syntax(out, e, false);
            }
            out.push('}');
        }
        // A named slice or map type prints under its own name (`template.KV{…}`,
        // `[]interface {}{…}`).
        Value::Object(o) => match o.underlying() {
            Some(u) => go_syntax_named(out, u, top, Some(&o.type_name())),
            None => v.write_go(out),
        },
        other => other.write_go(out),
    }
}

/// Go's `fmt.Sprint(args...)`: spaces between operands when neither side is a string.
pub fn sprint(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 && !is_string(a) && !is_string(&args[i - 1]) {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out
}

/// Go's `fmt.Sprintln(args...)`: always spaces, trailing newline.
pub fn sprintln(args: &[Value]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        a.write_go(&mut out);
    }
    out.push('\n');
    out
}

fn is_string(v: &Value) -> bool {
    matches!(v, Value::String(_))
}

/// Go's `%!verb(type=value)`; the value is printed with `%v` and the verb's flags.
fn bad_verb(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    out.push_str("%!");
    out.push(verb);
    out.push('(');
    if matches!(v, Value::Nil) {
        out.push_str("<nil>");
    } else {
        out.push_str(&v.type_name());
        out.push('=');
        format_value(out, v, 'v', spec);
    }
    out.push(')');
}

/// Appends `v` formatted with one verb, as Go's `fmt` does for the value's kind.
pub fn format_value(out: &mut String, v: &Value, verb: char, spec: &Spec) {
    match v {
        Value::Nil => match verb {
            'v' => pad(out, "<nil>", spec, false),
            _ => bad_verb(out, v, verb, spec),
        },
        Value::Bool(b) => match verb {
            'v' | 't' => pad(out, if *b { "true" } else { "false" }, spec, false),
            _ => bad_verb(out, v, verb, spec),
        },
        Value::Int(n) => format_int(out, *n, verb, spec, v),
        Value::Float(f) => match verb {
            'v' => format_float(out, *f, 'g', spec.prec, spec),
            'e' | 'E' | 'f' | 'F' | 'g' | 'G' => format_float(out, *f, verb, spec.prec, spec),
            _ => bad_verb(out, v, verb, spec),
        },
        Value::String(s) => format_str(out, s, verb, spec, v),
        Value::List(items) => {
            if !matches!(
                verb,
                'v' | 's' | 'd' | 'q' | 'x' | 'X' | 'f' | 'g' | 'e' | 't' | 'o' | 'b' | 'c'
            ) {
                bad_verb(out, v, verb, spec);
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, item, verb, spec);
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push_str("map[");
            for (i, (k, val)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_str(out, k, verb, spec, &Value::from(k.as_str()));
                out.push(':');
                format_value(out, val, verb, spec);
            }
            out.push(']');
        }
        Value::Object(o) => {
            if matches!(verb, 'v' | 's' | 'q' | 'x' | 'X') {
                if let Some(s) = o.string() {
                    format_str(out, &s, verb, spec, &Value::from(s.as_str()));
                    return;
                }
            }
            match o.underlying() {
                Some(u) => format_value(out, u, verb, spec),
                None => {
                    let name = o.type_name();
                    pad(out, &format!("{{{name}}}"), spec, false);
                }
            }
        }
    }
}

fn format_str(out: &mut String, s: &str, verb: char, spec: &Spec, v: &Value) {
    match verb {
        'v' | 's' => {
            let s = match spec.prec {
                Some(p) => truncate_runes(s, p),
                None => s,
            };
            pad(out, s, spec, spec.zero);
        }
        'q' => {
            let q = if spec.sharp && can_backquote(s) {
                format!("`{s}`")
            } else {
                crate::base::go::quote(s)
            };
            pad(out, &q, spec, false);
        }
        'x' | 'X' => {
            let mut h = String::with_capacity(s.len() * 2);
            for (i, &b) in crate::base::gostr::to_bytes(s).iter().enumerate() {
                if spec.space && i > 0 {
                    h.push(' ');
                }
                if spec.sharp && (spec.space || i == 0) {
                    h.push_str(if verb == 'x' { "0x" } else { "0X" });
                }
                if verb == 'x' {
                    h.push_str(&format!("{b:02x}"));
                } else {
                    h.push_str(&format!("{b:02X}"));
                }
            }
            pad(out, &h, spec, false);
        }
        _ => bad_verb(out, v, verb, spec),
    }
}

fn truncate_runes(s: &str, n: usize) -> &str {
    match s.char_indices().nth(n) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

fn format_int(out: &mut String, n: i64, verb: char, spec: &Spec, v: &Value) {
    let (digits, prefix) = match verb {
        'v' | 'd' => (n.unsigned_abs().to_string(), ""),
        'x' => (format!("{:x}", n.unsigned_abs()), "0x"),
        'X' => (format!("{:X}", n.unsigned_abs()), "0X"),
        'o' => (format!("{:o}", n.unsigned_abs()), "0"),
        'O' => (format!("{:o}", n.unsigned_abs()), "0o"),
        'b' => (format!("{:b}", n.unsigned_abs()), ""),
        'c' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &c.to_string(), spec, false);
            return;
        }
        'q' => {
            let c = u32::try_from(n)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}');
            pad(out, &quote_rune(c), spec, false);
            return;
        }
        'U' => {
            let s = format!("U+{:04X}", n);
            pad(out, &s, spec, false);
            return;
        }
        'e' | 'E' | 'f' | 'F' | 'g' | 'G' | 's' | 't' => {
            bad_verb(out, v, verb, spec);
            return;
        }
        _ => {
            bad_verb(out, v, verb, spec);
            return;
        }
    };
    let mut digits = digits;
    if let Some(p) = spec.prec {
        if p == 0 && n == 0 {
            digits.clear();
        }
        while digits.len() < p {
            digits.insert(0, '0');
        }
    }
    let mut s = String::new();
    if n < 0 {
        s.push('-');
    } else if spec.plus {
        s.push('+');
    } else if spec.space {
        s.push(' ');
    }
    if spec.sharp || verb == 'O' {
        if verb == 'o' {
            if !digits.starts_with('0') {
                s.push('0');
            }
        } else {
            s.push_str(prefix);
        }
    }
    let zero = spec.zero && spec.prec.is_none() && !spec.minus;
    if zero {
        if let Some(w) = spec.width {
            let len = s.len() + digits.len();
            if w > len {
                s.push_str(&"0".repeat(w - len));
            }
        }
    }
    s.push_str(&digits);
    pad(out, &s, spec, false);
}

/// `a` with exactly `p` digits after the point, correctly rounded. Rust's formatter refuses
/// precisions above `u16::MAX` (a panic), while Go allows up to 10^6; a finite f64's exact
/// decimal expansion ends within 1074 fractional digits, so longer precisions are that
/// expansion padded with zeros.
fn push_fixed(out: &mut String, a: f64, p: usize) {
    const EXACT: usize = 1100;
    if p <= EXACT {
        out.push_str(&format!("{a:.p$}"));
    } else {
        out.push_str(&format!("{a:.EXACT$}"));
        out.extend(std::iter::repeat_n('0', p - EXACT));
    }
}

/// Pads `s` to the spec's width (counted in runes), left or right, with spaces or zeros.
fn pad(out: &mut String, s: &str, spec: &Spec, zero: bool) {
    let w = spec.width.unwrap_or(0);
    let len = s.chars().count();
    if len >= w {
        out.push_str(s);
        return;
    }
    let fill = if zero && !spec.minus { '0' } else { ' ' };
    if spec.minus {
        out.push_str(s);
        out.extend(std::iter::repeat_n(' ', w - len));
    } else {
        out.extend(std::iter::repeat_n(fill, w - len));
        out.push_str(s);
    }
}

/// Decimal digits and decimal-point position of a finite, non-negative float: the value is
/// `0.d1d2d3… × 10^dp`. `prec` is the number of significant digits, `None` for shortest.
fn digits(v: f64, sig: Option<usize>) -> (String, i32) {
    if v == 0.0 {
        return (String::new(), 0);
    }
    let s = match sig {
        // An f64's exact decimal expansion has at most 767 significant digits, and trailing
        // zeros are dropped below, so capping keeps the result and Rust's formatter (which
        // panics past u16::MAX digits) safe.
        Some(p) => format!("{:.*e}", p.clamp(1, 800) - 1, v),
        None => format!("{v:e}"),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut d: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    while d.ends_with('0') {
        d.pop();
    }
    (d, exp + 1)
}

/// Go's `strconv.FormatFloat(v, fmt, prec, 64)` (prec `None` = -1, shortest).
pub fn strconv_float(v: f64, fmt: char, prec: Option<usize>) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.to_string();
    }
    let neg = v.is_sign_negative();
    let a = v.abs();
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    match fmt {
        'f' | 'F' => match prec {
            Some(p) => push_fixed(&mut out, a, p),
            None => {
                let (d, dp) = digits(a, None);
                fmt_f(&mut out, &d, dp, (d.len() as i32 - dp).max(0) as usize);
            }
        },
        'e' | 'E' => {
            let (d, dp) = match prec {
                Some(p) => digits(a, Some(p + 1)),
                None => digits(a, None),
            };
            let p = prec.unwrap_or(d.len().max(1) - 1);
            fmt_e(&mut out, &d, dp, p, fmt);
        }
        _ => {
            // 'g' / 'G'
            let shortest = prec.is_none();
            let mut p = match prec {
                Some(0) => 1,
                Some(p) => p,
                None => 0,
            };
            let (d, dp) = digits(a, if shortest { None } else { Some(p) });
            let nd = d.len() as i32;
            if shortest {
                p = d.len();
            }
            let mut eprec = p as i32;
            if eprec > nd && nd >= dp {
                eprec = nd;
            }
            if shortest {
                eprec = 6;
            }
            let exp = dp - 1;
            let ech = if fmt == 'G' { 'E' } else { 'e' };
            if a != 0.0 && (exp < -4 || exp >= eprec) {
                let mut pp = p as i32;
                if pp > nd {
                    pp = nd;
                }
                fmt_e(&mut out, &d, dp, (pp - 1).max(0) as usize, ech);
            } else {
                let mut pp = p as i32;
                if pp > dp {
                    pp = nd;
                }
                fmt_f(&mut out, &d, dp, (pp - dp).max(0) as usize);
            }
        }
    }
    out
}

fn digit_at(d: &str, i: i32) -> char {
    if i < 0 {
        return '0';
    }
    d.as_bytes().get(i as usize).map_or('0', |b| *b as char)
}

fn fmt_e(out: &mut String, d: &str, dp: i32, prec: usize, e: char) {
    out.push(if d.is_empty() { '0' } else { digit_at(d, 0) });
    if prec > 0 {
        out.push('.');
        for i in 1..=prec as i32 {
            out.push(digit_at(d, i));
        }
    }
    out.push(if e == 'E' || e == 'G' { 'E' } else { 'e' });
    let exp = if d.is_empty() { 0 } else { dp - 1 };
    out.push(if exp < 0 { '-' } else { '+' });
    let ea = exp.unsigned_abs();
    if ea < 10 {
        out.push('0');
    }
    out.push_str(&ea.to_string());
}

fn fmt_f(out: &mut String, d: &str, dp: i32, prec: usize) {
    if dp > 0 {
        for i in 0..dp {
            out.push(digit_at(d, i));
        }
    } else {
        out.push('0');
    }
    if prec > 0 {
        out.push('.');
        for i in 0..prec as i32 {
            out.push(digit_at(d, dp + i));
        }
    }
}

fn format_float(out: &mut String, v: f64, verb: char, prec: Option<usize>, spec: &Spec) {
    let verb = if verb == 'F' { 'f' } else { verb };
    let prec = match verb {
        'e' | 'E' | 'f' if prec.is_none() => Some(6),
        _ => prec,
    };
    let mut num = strconv_float(v, verb, prec);
    if spec.sharp && verb != 'v' {
        // Go's %#g keeps trailing zeros; rarely used, approximated by forcing a point.
        if !num.contains('.') && !num.contains('e') && !num.contains('I') && !num.contains('N') {
            num.push('.');
        }
    }
    let (sign, body) = match num.strip_prefix('-') {
        Some(b) => ("-", b.to_string()),
        None => match num.strip_prefix('+') {
            Some(b) => ("+", b.to_string()),
            None => ("+", num.clone()),
        },
    };
    let mut sign = sign.to_string();
    if spec.space && sign == "+" && !spec.plus {
        sign = " ".to_string();
    }
    if body.starts_with('I') || body.starts_with('N') {
        let s = if body.starts_with('N') && !spec.space && !spec.plus {
            body
        } else {
            format!("{sign}{body}")
        };
        pad(out, &s, spec, false);
        return;
    }
    let show_sign = spec.plus || sign != "+";
    if show_sign {
        let s = format!("{sign}{body}");
        let w = spec.width.unwrap_or(0);
        if spec.zero && !spec.minus && w > s.len() {
            out.push_str(&sign);
            out.push_str(&"0".repeat(w - s.len()));
            out.push_str(&body);
            return;
        }
        pad(out, &s, spec, false);
    } else {
        pad(out, &body, spec, spec.zero);
    }
}

/// Go's `strconv.CanBackquote`.
pub fn can_backquote(s: &str) -> bool {
    // Invalid UTF-8 (a raw byte, see `base::gostr`) cannot be backquoted either.
    s.chars().all(|c| {
        c != '`'
            && c != '\u{FEFF}'
            && (c == '\t' || !c.is_control())
            && crate::base::gostr::raw_byte(c).is_none()
    })
}

fn quote_rune(c: char) -> String {
    match c {
        '\'' => "'\\''".to_string(),
        '"' => "'\"'".to_string(),
        c => {
            let q = crate::base::go::quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

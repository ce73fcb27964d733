//! Go's `json.Marshal` of template values, for Alertmanager's `toJson`: maps with sorted
//! keys, slices, numbers as `encoding/json` writes them (`1e+21`, `1e-7`, no `.0`), strings
//! HTML-escaped with raw bytes as `\ufffd` (`base::go::append_json_string`), and named
//! types through [`Object::json`](super::value::Object::json) (structs with their JSON tags,
//! `time.Time` as RFC 3339), else their underlying map or list.
//!
//! Not here: `json.Marshal`'s other types (channels, funcs, pointers cycles) do not occur in
//! template data.

use super::printf::strconv_float;
use super::value::{JsonRepr, Value};
use crate::base::go::append_json_string;

/// `json.Marshal(v)`; the error is Go's (`json: unsupported value: NaN`).
pub fn marshal(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write(&mut out, v, 0)?;
    Ok(out)
}

/// Go's `encoding/json` limit on nesting before it reports a cycle; template values cannot
/// be cyclic, but a bound keeps hostile data from exhausting the stack.
const MAX_DEPTH: usize = 1000;

fn write(out: &mut String, v: &Value, depth: usize) -> Result<(), String> {
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: nesting too deep".to_string());
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => write_float(out, *f)?,
        Value::String(s) => append_json_string(out, s),
        Value::List(l) => {
            out.push('[');
            for (i, e) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write(out, e, depth + 1)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, e)) in m.entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append_json_string(out, k);
                out.push(':');
                write(out, e, depth + 1)?;
            }
            out.push('}');
        }
        Value::Object(o) => match o.json() {
            Some(JsonRepr::Value(inner)) => write(out, &inner, depth + 1)?,
            Some(JsonRepr::Fields(fields)) => {
                out.push('{');
                for (i, (name, e)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    append_json_string(out, name);
                    out.push(':');
                    write(out, e, depth + 1)?;
                }
                out.push('}');
            }
            Some(JsonRepr::Error(e)) => {
                return Err(format!(
                    "json: error calling MarshalJSON for type {}: {e}",
                    o.type_name()
                ))
            }
            None => match (o.underlying(), o.string()) {
                (Some(u), _) => write(out, u, depth + 1)?,
                (None, Some(s)) => append_json_string(out, &s),
                (None, None) => out.push_str("{}"),
            },
        },
    }
    Ok(())
}

/// `encoding/json`'s `floatEncoder` for float64: `%f` form between 1e-6 and 1e21, `%e`
/// otherwise with a one-digit negative exponent unpadded (`1e-7`, `1e+21`).
fn write_float(out: &mut String, f: f64) -> Result<(), String> {
    if !f.is_finite() {
        return Err(format!(
            "json: unsupported value: {}",
            strconv_float(f, 'g', None)
        ));
    }
    let abs = f.abs();
    let e = abs != 0.0 && !(1e-6..1e21).contains(&abs);
    let mut s = strconv_float(f, if e { 'e' } else { 'f' }, None);
    if e {
        let b = s.as_bytes();
        let n = b.len();
        if n >= 4 && b[n - 4] == b'e' && b[n - 3] == b'-' && b[n - 2] == b'0' {
            s.remove(n - 2);
        }
    }
    out.push_str(&s);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::template::value::{AnySlice, Map};
    use std::collections::BTreeMap;

    #[test]
    fn numbers_as_encoding_json() {
        for (f, want) in [
            (42.0, "42"),
            (0.5, "0.5"),
            (-0.0, "-0"),
            (1e21, "1e+21"),
            (1e20, "100000000000000000000"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (0.000001, "0.000001"),
        ] {
            assert_eq!(marshal(&Value::Float(f)).unwrap(), want, "{f}");
        }
        assert_eq!(
            marshal(&Value::Float(f64::NAN)).unwrap_err(),
            "json: unsupported value: NaN"
        );
        assert_eq!(
            marshal(&Value::Float(f64::NEG_INFINITY)).unwrap_err(),
            "json: unsupported value: -Inf"
        );
    }

    #[test]
    fn maps_sorted_slices_and_nil() {
        let mut m = BTreeMap::new();
        m.insert("number".to_string(), Value::Int(123));
        m.insert("key".to_string(), Value::from("value"));
        m.insert("nil".to_string(), Value::Nil);
        let v = AnySlice::value(vec![Value::from(Map::any(m)), Value::Bool(true)]);
        assert_eq!(
            marshal(&v).unwrap(),
            r#"[{"key":"value","nil":null,"number":123},true]"#
        );
        assert_eq!(marshal(&AnySlice::value(vec![])).unwrap(), "[]");
    }
}

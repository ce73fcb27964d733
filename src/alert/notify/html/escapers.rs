//! The escaper functions the rewritten templates call (`_html_template_*`, `safeHtml`), as
//! Go's `html/template` defines them.

use super::*;

/// Marks a value as trusted HTML (`template.HTML`), as `safeHtml` returns it.
#[derive(Debug)]
pub struct SafeHtml {
    html: Value,
}

impl Object for SafeHtml {
    fn type_name(&self) -> String {
        "template.HTML".to_string()
    }
    fn method(&self, _name: &str, _args: &[Value]) -> Option<Result<Value, String>> {
        None
    }
    fn string(&self) -> Option<String> {
        self.html.as_str().map(str::to_string)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// Go's `stringify`: the printed arguments (untyped nil skipped) and whether they are one
/// trusted-HTML value.
pub(super) fn stringify(args: &[Value]) -> (String, bool) {
    if let [Value::Object(o)] = args {
        if let Some(h) = o.as_any().downcast_ref::<SafeHtml>() {
            return (h.html.as_str().unwrap_or("").to_string(), true);
        }
    }
    let kept: Vec<Value> = args
        .iter()
        .filter(|v| !matches!(v, Value::Nil))
        .cloned()
        .collect();
    match kept.as_slice() {
        [] => (String::new(), false),
        [Value::String(s)] => (s.to_string(), false),
        _ => (
            call_builtin("print", &kept)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            false,
        ),
    }
}

/// Go's `htmlReplacementTable` (`norm` leaves `&` alone: `htmlNormReplacementTable`).
pub(super) fn html_replace(s: &str, norm: bool, space: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '\0' => out.push('\u{FFFD}'),
            '"' => out.push_str("&#34;"),
            '&' if !norm => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '+' => out.push_str("&#43;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\t' | '\n' | '\x0b' | '\x0c' | '\r' | ' ' | '=' | '`' if space => {
                out.push_str(&format!("&#{};", ch as u32))
            }
            c => out.push(c),
        }
    }
    out
}

pub(super) fn strip_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for ch in s.chars() {
        match ch {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Go's `processURLOnto`.
pub(super) fn process_url(s: &str, norm: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &c in s.as_bytes() {
        let keep = match c {
            b'!' | b'#' | b'$' | b'&' | b'*' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?'
            | b'@' | b'[' | b']' | b'%' => norm,
            b'-' | b'.' | b'_' | b'~' => true,
            c => c.is_ascii_alphanumeric(),
        };
        if keep {
            out.push(c as char);
        } else {
            out.push_str(&format!("%{c:02x}"));
        }
    }
    out
}

pub(super) fn url_filter(s: &str) -> String {
    if let Some(colon) = s.find(':') {
        if !s[..colon].contains('/') {
            let scheme = s[..colon].to_ascii_lowercase();
            if !matches!(scheme.as_str(), "http" | "https" | "mailto") {
                return "#ZgotmplZ".to_string();
            }
        }
    }
    s.to_string()
}

pub(super) fn js_val(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\u0022"),
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\u0027"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '+' => out.push_str("\\u002b"),
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub(super) fn css_value(s: &str) -> String {
    let ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " #%.,-_!".contains(c));
    if ok && !s.contains("--") {
        s.to_string()
    } else {
        "ZgotmplZ".to_string()
    }
}

pub(super) fn esc(f: fn(&str, bool) -> String) -> impl Fn(&[Value]) -> Result<Value, FuncError> {
    move |a: &[Value]| {
        let (s, safe) = stringify(a);
        Ok(Value::from(f(&s, safe)))
    }
}

/// The escaper functions the rewritten templates call, plus `safeHtml` returning trusted
/// HTML.
pub fn escaper_funcs() -> FuncMap {
    let mut m = FuncMap::new();
    m.insert(
        "_html_template_htmlescaper",
        esc(|s, safe| {
            if safe {
                s.to_string()
            } else {
                html_replace(s, false, false)
            }
        }),
    );
    m.insert(
        "_html_template_rcdataescaper",
        esc(|s, _| html_replace(s, false, false)),
    );
    m.insert(
        "_html_template_attrescaper",
        esc(|s, safe| {
            if safe {
                html_replace(&strip_tags(s), true, false)
            } else {
                html_replace(s, false, false)
            }
        }),
    );
    m.insert(
        "_html_template_nospaceescaper",
        esc(|s, safe| {
            let s = if safe { strip_tags(s) } else { s.to_string() };
            if s.is_empty() {
                "ZgotmplZ".to_string()
            } else {
                html_replace(&s, safe, true)
            }
        }),
    );
    m.insert("_html_template_urlfilter", esc(|s, _| url_filter(s)));
    m.insert(
        "_html_template_urlnormalizer",
        esc(|s, _| process_url(s, true)),
    );
    m.insert(
        "_html_template_urlescaper",
        esc(|s, _| process_url(s, false)),
    );
    m.insert("_html_template_jsvalescaper", esc(|s, _| js_val(s)));
    m.insert("_html_template_cssvaluefilter", esc(|s, _| css_value(s)));
    m.insert("_html_template_commentescaper", esc(|_, _| String::new()));
    m.insert(
        "_html_template_htmlnamefilter",
        esc(|s, _| {
            let ok = !s.is_empty()
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !s.to_ascii_lowercase().starts_with("on")
                && attr_kind(s) == AttrKind::Plain;
            if ok {
                s.to_ascii_lowercase()
            } else {
                "ZgotmplZ".to_string()
            }
        }),
    );
    m.insert("safeHtml", |a: &[Value]| {
        crate::template::funcs::want("safeHtml", a, 1)?;
        let s = crate::template::funcs::arg_str(a, 0)?;
        Ok(Value::Object(Arc::new(SafeHtml {
            html: Value::from(s),
        })))
    });
    m
}

//! An approximation of Go's `html/template` contextual autoescaping, for the e-mail `html`
//! field (upstream renders it with `html/template`).
//!
//! As Go does, the parsed templates are rewritten before execution: the HTML context is
//! tracked through text nodes (text, tags, attribute names, quoted/unquoted attribute values,
//! URL attributes with their pre-query / query-or-fragment part, RCDATA elements `title` and
//! `textarea`, `script`/`style` elements and `on*`/`style` attributes, HTML comments), and
//! every output action gets Go's escaper chain appended (`_html_template_htmlescaper`,
//! `…rcdataescaper`, `…attrescaper`, `…nospaceescaper`, `…urlfilter`, `…urlnormalizer`,
//! `…urlescaper`, merged with a trailing `html`/`urlquery` as Go merges them). Templates
//! called with `{{ template }}` are escaped in the caller's context as derived copies
//! (`name$ctx`). `if`/`range`/`with` branches must end in the same context, as in Go.
//! Text nodes are rewritten as Go does: HTML comments are removed and a `<` that does not
//! start a tag is written as `&lt;`. `safeHtml` values pass the text escaper unchanged.
//!
//! Known differences from Go, documented rather than hidden: JavaScript and CSS contexts
//! are not parsed (strings, regexps and comments inside `<script>`/`<style>` are not
//! tracked); values there are escaped with a JSON-string escaper (JS) or filtered to a safe
//! character set, else `ZgotmplZ` (CSS). `srcset` and `xmlns:` attribute special cases are
//! treated as URL attributes. Upstream's default e-mail template only uses text, RCDATA and
//! URL-attribute contexts, which behave as in Go.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::SystemTime;

use super::render::{RenderError, TemplateSet};
use crate::template::funcs::call_builtin;
use crate::template::parse::{self, Arg, Cmd, Node, Pipe, Tree};
use crate::template::{FuncError, FuncMap, MissingKey, Object, Templates, Value};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum State {
    Text,
    Tag,
    AttrName,
    AfterName,
    BeforeValue,
    Attr,
    Url,
    Js,
    Css,
    Rcdata,
    Comment,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Delim {
    None,
    Double,
    Single,
    Space,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum UrlPart {
    None,
    PreQuery,
    QueryOrFrag,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Element {
    None,
    Script,
    Style,
    Rcdata(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AttrKind {
    Plain,
    Url,
    Js,
    Css,
}

/// Where in an HTML document the output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Ctx {
    state: State,
    delim: Delim,
    url: UrlPart,
    element: Element,
    attr: AttrKind,
}

impl Ctx {
    const TEXT: Ctx = Ctx {
        state: State::Text,
        delim: Delim::None,
        url: UrlPart::None,
        element: Element::None,
        attr: AttrKind::Plain,
    };

    fn suffix(&self) -> String {
        format!(
            "{:?}_{:?}_{:?}_{:?}_{:?}",
            self.state, self.delim, self.url, self.element, self.attr
        )
    }

    /// The state an attribute value of this kind starts in.
    fn value_state(&self) -> State {
        match self.attr {
            AttrKind::Plain => State::Attr,
            AttrKind::Url => State::Url,
            AttrKind::Js => State::Js,
            AttrKind::Css => State::Css,
        }
    }

    /// Go's `nudge`: contexts where an action cannot appear move to the nearest one where
    /// it can.
    fn nudge(mut self) -> Ctx {
        match self.state {
            State::Tag | State::AfterName => self.state = State::AttrName,
            State::BeforeValue => {
                self.state = self.value_state();
                self.delim = Delim::Space;
                self.url = UrlPart::None;
            }
            _ => {}
        }
        self
    }

    /// Go's `join` of two branch contexts.
    fn join(self, other: Ctx) -> Option<Ctx> {
        if self == other {
            return Some(self);
        }
        if self.state == State::Url && other.state == State::Url {
            let mut c = self;
            c.url = if self.url == other.url {
                self.url
            } else {
                UrlPart::Unknown
            };
            let mut o = other;
            o.url = c.url;
            if c == o {
                return Some(c);
            }
        }
        let (a, b) = (self.nudge(), other.nudge());
        if a == b {
            return Some(a);
        }
        None
    }
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':'
}

fn attr_kind(name: &str) -> AttrKind {
    let n = name.to_ascii_lowercase();
    let n = n.strip_prefix("data-").unwrap_or(&n);
    if n.starts_with("on") {
        return AttrKind::Js;
    }
    if n == "style" {
        return AttrKind::Css;
    }
    const URL_ATTRS: &[&str] = &[
        "action",
        "archive",
        "background",
        "cite",
        "classid",
        "codebase",
        "data",
        "formaction",
        "href",
        "icon",
        "longdesc",
        "manifest",
        "poster",
        "profile",
        "src",
        "srcset",
        "usemap",
        "xmlns",
    ];
    if URL_ATTRS.contains(&n) || n.contains("src") || n.contains("uri") || n.contains("url") {
        return AttrKind::Url;
    }
    AttrKind::Plain
}

fn starts_with_ci(s: &[u8], prefix: &str) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Scans a text node starting in `c`; returns the context after it and the text as Go
/// writes it (comments removed, stray `<` escaped).
fn text(mut c: Ctx, s: &str) -> (Ctx, String) {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        match c.state {
            State::Text => {
                let Some(off) = s[i..].find('<') else {
                    out.push_str(&s[i..]);
                    break;
                };
                out.push_str(&s[i..i + off]);
                i += off;
                let rest = &b[i..];
                if rest.starts_with(b"<!--") {
                    c.state = State::Comment;
                    i += 4;
                    continue;
                }
                let (end_tag, name_at) = if rest.get(1) == Some(&b'/') {
                    (true, 2)
                } else {
                    (false, 1)
                };
                let name_len = rest[name_at..]
                    .iter()
                    .take_while(|&&x| is_name_byte(x))
                    .count();
                if name_len == 0 || !rest[name_at].is_ascii_alphabetic() {
                    if starts_with_ci(rest, "<!doctype") {
                        out.push('<');
                    } else {
                        out.push_str("&lt;");
                    }
                    i += 1;
                    continue;
                }
                let name = s[i + name_at..i + name_at + name_len].to_ascii_lowercase();
                out.push_str(&s[i..i + name_at + name_len]);
                i += name_at + name_len;
                c.state = State::Tag;
                c.element = if end_tag {
                    Element::None
                } else {
                    match name.as_str() {
                        "script" => Element::Script,
                        "style" => Element::Style,
                        "title" => Element::Rcdata("title"),
                        "textarea" => Element::Rcdata("textarea"),
                        _ => Element::None,
                    }
                };
            }
            State::Comment => match s[i..].find("-->") {
                Some(off) => {
                    i += off + 3;
                    c.state = State::Text;
                }
                None => break,
            },
            State::Tag => {
                let x = b[i];
                if x.is_ascii_whitespace() || x == b'/' {
                    out.push(x as char);
                    i += 1;
                } else if x == b'>' {
                    out.push('>');
                    i += 1;
                    c.state = match c.element {
                        Element::None => State::Text,
                        Element::Script => State::Js,
                        Element::Style => State::Css,
                        Element::Rcdata(_) => State::Rcdata,
                    };
                    c.attr = AttrKind::Plain;
                } else {
                    c.state = State::AttrName;
                }
            }
            State::AttrName => {
                let n = b[i..]
                    .iter()
                    .take_while(|&&x| !x.is_ascii_whitespace() && !b"=>/".contains(&x))
                    .count();
                c.attr = attr_kind(&s[i..i + n]);
                out.push_str(&s[i..i + n]);
                i += n;
                c.state = State::AfterName;
            }
            State::AfterName => {
                let x = b[i];
                if x.is_ascii_whitespace() {
                    out.push(x as char);
                    i += 1;
                } else if x == b'=' {
                    out.push('=');
                    i += 1;
                    c.state = State::BeforeValue;
                } else {
                    c.state = State::Tag;
                    c.attr = AttrKind::Plain;
                }
            }
            State::BeforeValue => {
                let x = b[i];
                if x.is_ascii_whitespace() {
                    out.push(x as char);
                    i += 1;
                    continue;
                }
                c.delim = match x {
                    b'"' => Delim::Double,
                    b'\'' => Delim::Single,
                    _ => Delim::Space,
                };
                if c.delim != Delim::Space {
                    out.push(x as char);
                    i += 1;
                }
                c.state = c.value_state();
                c.url = UrlPart::None;
            }
            State::Attr | State::Url | State::Js | State::Css if c.delim != Delim::None => {
                let end = b[i..].iter().position(|&x| match c.delim {
                    Delim::Double => x == b'"',
                    Delim::Single => x == b'\'',
                    _ => x.is_ascii_whitespace() || x == b'>',
                });
                let stop = end.map_or(b.len(), |e| i + e);
                let seg = &s[i..stop];
                if c.state == State::Url {
                    if seg.contains(['?', '#']) {
                        c.url = UrlPart::QueryOrFrag;
                    } else if !seg.is_empty() && c.url == UrlPart::None {
                        c.url = UrlPart::PreQuery;
                    }
                }
                out.push_str(seg);
                i = stop;
                if end.is_some() {
                    if c.delim != Delim::Space {
                        out.push(b[i] as char);
                        i += 1;
                    }
                    c.state = State::Tag;
                    c.delim = Delim::None;
                    c.url = UrlPart::None;
                    c.attr = AttrKind::Plain;
                }
            }
            State::Rcdata | State::Js | State::Css | State::Attr | State::Url => {
                let close = match c.element {
                    Element::Script => "</script",
                    Element::Style => "</style",
                    Element::Rcdata(n) => {
                        if n == "title" {
                            "</title"
                        } else {
                            "</textarea"
                        }
                    }
                    Element::None => {
                        out.push_str(&s[i..]);
                        break;
                    }
                };
                let lower = s[i..].to_ascii_lowercase();
                let stop = lower.find(close);
                let seg_end = stop.map_or(b.len(), |o| i + o);
                for ch in s[i..seg_end].chars() {
                    if ch == '<' && c.state == State::Rcdata {
                        out.push_str("&lt;");
                    } else {
                        out.push(ch);
                    }
                }
                i = seg_end;
                if stop.is_some() {
                    c = Ctx::TEXT;
                }
            }
        }
    }
    (c, out)
}

const PREDEFINED: &[&str] = &["html", "urlquery"];

fn equiv(predefined: &str, escaper: &str) -> bool {
    matches!(
        (predefined, escaper),
        (
            "html",
            "_html_template_attrescaper"
                | "_html_template_htmlescaper"
                | "_html_template_rcdataescaper"
        ) | (
            "urlquery",
            "_html_template_urlescaper" | "_html_template_urlnormalizer"
        )
    )
}

/// The escapers Go appends to an action in context `c` (after `nudge`).
fn escapers(c: Ctx) -> Result<Vec<&'static str>, String> {
    let mut s = Vec::new();
    match c.state {
        State::Text => s.push("_html_template_htmlescaper"),
        State::Rcdata => s.push("_html_template_rcdataescaper"),
        State::Attr => {}
        State::Url => match c.url {
            UrlPart::None => {
                s.push("_html_template_urlfilter");
                s.push("_html_template_urlnormalizer");
            }
            UrlPart::PreQuery => s.push("_html_template_urlnormalizer"),
            UrlPart::QueryOrFrag => s.push("_html_template_urlescaper"),
            UrlPart::Unknown => {
                return Err(
                    "cannot determine the URL part of an action in an ambiguous context".into(),
                )
            }
        },
        State::Js => s.push("_html_template_jsvalescaper"),
        State::Css => s.push("_html_template_cssvaluefilter"),
        State::Comment => s.push("_html_template_commentescaper"),
        State::Tag | State::AttrName | State::AfterName | State::BeforeValue => {
            s.push("_html_template_htmlnamefilter")
        }
    }
    match c.delim {
        Delim::None => {}
        Delim::Space => s.push("_html_template_nospaceescaper"),
        Delim::Double | Delim::Single => s.push("_html_template_attrescaper"),
    }
    Ok(s)
}

fn ident(pos: usize, name: &str) -> Cmd {
    Cmd {
        pos,
        args: vec![Arg::Ident {
            pos,
            name: name.to_string(),
        }],
    }
}

/// Go's `ensurePipelineContains`.
fn ensure(p: &mut Pipe, mut s: Vec<&'static str>) {
    let mut keep = p.cmds.len();
    if let Some(Cmd { args, .. }) = p.cmds.last() {
        if let Some(Arg::Ident { name, .. }) = args.first() {
            if PREDEFINED.contains(&name.as_str()) && args.len() == 1 {
                let mut dup = false;
                for e in s.iter_mut() {
                    if equiv(name, e) {
                        *e = if name == "html" { "html" } else { "urlquery" };
                        dup = true;
                    }
                }
                if dup {
                    keep -= 1;
                }
            }
        }
    }
    let removed: Vec<Cmd> = p.cmds.drain(keep..).collect();
    drop(removed);
    let present: Vec<String> = p
        .cmds
        .iter()
        .filter_map(|c| match c.args.first() {
            Some(Arg::Ident { name, .. }) => Some(name.clone()),
            _ => None,
        })
        .collect();
    for e in s {
        if !present.iter().any(|n| n == e) {
            p.cmds.push(ident(p.pos, e));
        }
    }
}

/// Where each template name's tree comes from.
struct Origin {
    source: usize,
}

struct Escaper<'a> {
    sources: Vec<(String, Arc<str>)>,
    origin: HashMap<String, Origin>,
    /// (name, start) → end context, for finished and in-progress derived templates.
    done: HashMap<(String, Ctx), Ctx>,
    out: Vec<Tree>,
    has: &'a dyn Fn(&str) -> bool,
}

impl Escaper<'_> {
    fn fresh_tree(&self, name: &str) -> Result<Option<Tree>, String> {
        let Some(o) = self.origin.get(name) else {
            return Ok(None);
        };
        let (sname, text) = &self.sources[o.source];
        let (main, defined) = parse::parse(sname, text, self.has).map_err(|e| e.to_string())?;
        Ok(std::iter::once(main)
            .chain(defined)
            .find(|t| t.name == name))
    }

    fn derived_name(name: &str, c: Ctx) -> String {
        if c == Ctx::TEXT {
            name.to_string()
        } else {
            format!("{name}$htmltemplate_{}", c.suffix())
        }
    }

    /// Escapes template `name` starting in `c`; returns the derived name and end context.
    fn template(&mut self, name: &str, c: Ctx) -> Result<(String, Ctx), String> {
        let derived = Self::derived_name(name, c);
        if let Some(end) = self.done.get(&(name.to_string(), c)) {
            return Ok((derived, *end));
        }
        let Some(mut tree) = self.fresh_tree(name)? else {
            // Undefined: left for the executor to report as Go does.
            return Ok((name.to_string(), c));
        };
        // Assume the template ends where it starts while escaping recursive calls.
        self.done.insert((name.to_string(), c), c);
        let end = self.list(&mut tree.root, c)?;
        self.done.insert((name.to_string(), c), end);
        tree.name = derived.clone();
        self.out.push(tree);
        Ok((derived, end))
    }

    fn list(&mut self, nodes: &mut [Node], mut c: Ctx) -> Result<Ctx, String> {
        for n in nodes.iter_mut() {
            c = self.node(n, c)?;
        }
        Ok(c)
    }

    fn node(&mut self, n: &mut Node, c: Ctx) -> Result<Ctx, String> {
        match n {
            Node::Text(t) => {
                let (c2, rewritten) = text(c, t);
                *t = rewritten;
                Ok(c2)
            }
            Node::Action(p) => {
                if !p.decl.is_empty() {
                    return Ok(c);
                }
                let c = c.nudge();
                ensure(p, escapers(c)?);
                Ok(c)
            }
            Node::If(b) | Node::With(b) => {
                let c1 = self.list(&mut b.list, c)?;
                let c2 = match &mut b.else_list {
                    Some(l) => self.list(l, c)?,
                    None => c,
                };
                c1.join(c2)
                    .ok_or_else(|| "{{if}} branches end in different contexts".to_string())
            }
            Node::Range(b) => {
                let c1 = self.list(&mut b.list, c)?;
                let joined = c1
                    .join(c)
                    .ok_or_else(|| "{{range}} branches end in different contexts".to_string())?;
                let c2 = match &mut b.else_list {
                    Some(l) => self.list(l, c)?,
                    None => c,
                };
                joined
                    .join(c2)
                    .ok_or_else(|| "{{range}} branches end in different contexts".to_string())
            }
            Node::Template { name, .. } => {
                let (derived, end) = self.template(name, c)?;
                *name = derived;
                Ok(end)
            }
            Node::Break(_) | Node::Continue(_) => Ok(c),
        }
    }
}

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
fn stringify(args: &[Value]) -> (String, bool) {
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
fn html_replace(s: &str, norm: bool, space: bool) -> String {
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

fn strip_tags(s: &str) -> String {
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
fn process_url(s: &str, norm: bool) -> String {
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

fn url_filter(s: &str) -> String {
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

fn js_val(s: &str) -> String {
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

fn css_value(s: &str) -> String {
    let ok = s
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || " #%.,-_!".contains(c));
    if ok && !s.contains("--") {
        s.to_string()
    } else {
        "ZgotmplZ".to_string()
    }
}

fn esc(f: fn(&str, bool) -> String) -> impl Fn(&[Value]) -> Result<Value, FuncError> {
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

/// Renders `text` as upstream's `ExecuteHTMLString`: parsed as the anonymous template next
/// to every source of `set`, escaped from the text context, executed with `data`.
pub fn render(
    set: &TemplateSet,
    text: &str,
    data: &Value,
    now: SystemTime,
) -> Result<String, RenderError> {
    let base = super::render::funcs(now);
    let esc_funcs = escaper_funcs();
    let has = |n: &str| {
        crate::template::funcs::is_builtin(n) || base.contains(n) || esc_funcs.contains(n)
    };
    let mut sources: Vec<(String, Arc<str>)> = set
        .sources()
        .iter()
        .map(|s| (s.name.clone(), s.text.clone()))
        .collect();
    sources.push((String::new(), Arc::from(text)));
    // Which source defines each name last (an empty body does not replace, as in Go).
    let mut origin: HashMap<String, Origin> = HashMap::new();
    for (i, (name, src)) in sources.iter().enumerate() {
        let (main, defined) =
            parse::parse(name, src, &has).map_err(|e| RenderError::Parse(e.to_string()))?;
        for t in std::iter::once(main).chain(defined) {
            if t.is_empty() && origin.contains_key(&t.name) {
                continue;
            }
            origin.insert(t.name.clone(), Origin { source: i });
        }
    }
    let mut e = Escaper {
        sources,
        origin,
        done: HashMap::new(),
        out: Vec::new(),
        has: &has,
    };
    let (_, end) = e
        .template("", Ctx::TEXT)
        .map_err(|m| RenderError::Parse(format!("html/template: {m}")))?;
    if end.state != State::Text && end.state != State::Comment {
        tracing::debug!(message = "HTML template ends in a non-text context", context = ?end);
    }
    let mut t = Templates::new(MissingKey::Zero);
    let mut trees: BTreeMap<String, Tree> = BTreeMap::new();
    for tree in e.out {
        trees.insert(tree.name.clone(), tree);
    }
    for (_, tree) in trees {
        t.insert_tree(tree);
    }
    let mut funcs = base;
    for name in esc_funcs.names().map(str::to_string).collect::<Vec<_>>() {
        if let Some(f) = esc_funcs.get(&name) {
            let f = f.clone();
            funcs.insert(&name, move |a| f(a));
        }
    }
    t.execute("", data, &[&funcs])
        .map_err(|e| RenderError::Exec(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx_after(s: &str) -> (Ctx, String) {
        text(Ctx::TEXT, s)
    }

    #[test]
    fn text_contexts() {
        let (c, out) = ctx_after("<!-- x -->\n<a href=\"");
        assert_eq!(out, "\n<a href=\"");
        assert_eq!(c.state, State::Url);
        assert_eq!(c.delim, Delim::Double);
        let (c, _) = text(c, "/#/alerts?receiver=");
        assert_eq!(c.url, UrlPart::QueryOrFrag);
        let (c, out) = ctx_after("a < b <title>");
        assert_eq!(out, "a &lt; b <title>");
        assert_eq!(c.state, State::Rcdata);
        let (c, _) = text(c, "x</title>");
        assert_eq!(c.state, State::Text);
        let (c, out) = ctx_after("<!DOCTYPE html><p class=x>");
        assert_eq!(out, "<!DOCTYPE html><p class=x>");
        assert_eq!(c.state, State::Text);
    }

    #[test]
    fn url_and_html_escapers() {
        assert_eq!(
            process_url("http://a b/é?x=1", true),
            "http://a%20b/%c3%a9?x=1"
        );
        assert_eq!(url_filter("javascript:alert(1)"), "#ZgotmplZ");
        assert_eq!(url_filter("HTTP://x"), "HTTP://x");
        assert_eq!(
            html_replace("<a href='x'>&+\"", false, false),
            "&lt;a href=&#39;x&#39;&gt;&amp;&#43;&#34;"
        );
    }
}

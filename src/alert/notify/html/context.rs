//! The HTML context Go's `html/template` tracks through text nodes (element, attribute,
//! quoting, URL part), and `text`, the transition over one text node.

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum State {
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
pub(super) enum Delim {
    None,
    Double,
    Single,
    Space,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum UrlPart {
    None,
    PreQuery,
    QueryOrFrag,
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Element {
    None,
    Script,
    Style,
    Rcdata(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum AttrKind {
    Plain,
    Url,
    Js,
    Css,
}

/// Where in an HTML document the output is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct Ctx {
    pub(super) state: State,
    pub(super) delim: Delim,
    pub(super) url: UrlPart,
    pub(super) element: Element,
    pub(super) attr: AttrKind,
}

impl Ctx {
    pub(super) const TEXT: Ctx = Ctx {
        state: State::Text,
        delim: Delim::None,
        url: UrlPart::None,
        element: Element::None,
        attr: AttrKind::Plain,
    };

    pub(super) fn suffix(&self) -> String {
        format!(
            "{:?}_{:?}_{:?}_{:?}_{:?}",
            self.state, self.delim, self.url, self.element, self.attr
        )
    }

    /// The state an attribute value of this kind starts in.
    pub(super) fn value_state(&self) -> State {
        match self.attr {
            AttrKind::Plain => State::Attr,
            AttrKind::Url => State::Url,
            AttrKind::Js => State::Js,
            AttrKind::Css => State::Css,
        }
    }

    /// Go's `nudge`: contexts where an action cannot appear move to the nearest one where
    /// it can.
    pub(super) fn nudge(mut self) -> Ctx {
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
    pub(super) fn join(self, other: Ctx) -> Option<Ctx> {
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

pub(super) fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b':'
}

pub(super) fn attr_kind(name: &str) -> AttrKind {
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

pub(super) fn starts_with_ci(s: &[u8], prefix: &str) -> bool {
    s.len() >= prefix.len() && s[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Scans a text node starting in `c`; returns the context after it and the text as Go
/// writes it (comments removed, stray `<` escaped). One loop with a `match` per state on
/// purpose: it is Go's `transitionFunc` table inlined, and keeping every state's transition
/// next to the others is what makes it checkable against upstream.
pub(super) fn text(mut c: Ctx, s: &str) -> (Ctx, String) {
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

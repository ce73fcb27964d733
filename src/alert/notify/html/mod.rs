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
use crate::template::ast::{Arg, Cmd, Node, Pipe, Tree};
use crate::template::funcs::call_builtin;
use crate::template::parse;
use crate::template::{FuncError, FuncMap, MissingKey, Object, Templates, Value};

mod context;
mod escapers;

use context::*;
pub use escapers::{escaper_funcs, SafeHtml};

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
    use super::escapers::{html_replace, process_url, url_filter};
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

//! Parser for Go text/template: items from [`super::lex`] into trees (one per `define`d or
//! `block` template), following Go's `text/template/parse/parse.go` including its error texts.

use std::sync::Arc;

use super::ast::{Arg, Branch, Cmd, Node, ParseError, Pipe, Tree};
use super::lex::{lex, Item, ItemType};
use super::value::Value;

/// A marker for the nodes that end an item list.
enum ListEnd {
    End,
    Else,
}

struct Parser<'a> {
    items: Vec<Item>,
    idx: usize,
    parse_name: Arc<str>,
    text: Arc<str>,
    has_func: &'a dyn Fn(&str) -> bool,
    vars: Vec<String>,
    range_depth: usize,
    action_line: usize,
    /// Trees defined by `define`/`block`, in order.
    defined: Vec<Tree>,
    /// Line of the last item read (Go reports parse errors at `t.token[0].line`).
    line: usize,
    /// Nesting of parenthesised pipelines and control structures, bounded so that hostile
    /// input cannot overflow the stack (Go bounds parentheses at 10000 on growable stacks).
    depth: usize,
}

const MAX_NESTING: usize = 100;

type PResult<T> = Result<T, ParseError>;

/// Parses `text` as template `name`. Returns the main tree and every `define`d/`block` tree,
/// in source order. `has_func` tells whether a function name is defined.
pub fn parse(
    name: &str,
    text: &str,
    has_func: &dyn Fn(&str) -> bool,
) -> Result<(Tree, Vec<Tree>), ParseError> {
    let text: Arc<str> = Arc::from(text);
    let parse_name: Arc<str> = Arc::from(name);
    let mut p = Parser {
        items: lex(&text),
        idx: 0,
        parse_name: parse_name.clone(),
        text: text.clone(),
        has_func,
        vars: vec!["$".to_string()],
        range_depth: 0,
        action_line: 0,
        defined: Vec::new(),
        line: 1,
        depth: 0,
    };
    let root = p.parse_root()?;
    Ok((
        Tree {
            name: name.to_string(),
            parse_name,
            text,
            root,
        },
        p.defined,
    ))
}

impl Parser<'_> {
    fn errorf(&self, message: String) -> ParseError {
        ParseError {
            name: self.parse_name.to_string(),
            line: self.line,
            message,
        }
    }

    fn next(&mut self) -> Item {
        let it = match self.items.get(self.idx) {
            Some(it) => it.clone(),
            None => self.items.last().cloned().unwrap_or(Item {
                typ: ItemType::Eof,
                pos: self.text.len(),
                val: String::new(),
                line: self.line,
            }),
        };
        if self.idx < self.items.len() {
            self.idx += 1;
        }
        self.line = it.line;
        it
    }

    fn backup(&mut self) {
        self.idx = self.idx.saturating_sub(1);
    }

    fn peek(&mut self) -> Item {
        let it = self.next();
        self.backup();
        it
    }

    fn next_non_space(&mut self) -> Item {
        loop {
            let it = self.next();
            if it.typ != ItemType::Space {
                return it;
            }
        }
    }

    fn peek_non_space(&mut self) -> Item {
        let it = self.next_non_space();
        self.backup();
        it
    }

    fn unexpected(&self, token: &Item, context: &str) -> ParseError {
        if token.typ == ItemType::Error {
            let mut extra = String::new();
            if self.action_line != 0 && self.action_line != token.line {
                extra = format!(
                    " in action started at {}:{}",
                    self.parse_name, self.action_line
                );
                if token.val.ends_with(" action") {
                    extra = extra[" in action".len()..].to_string();
                }
            }
            return self.errorf(format!("{token}{extra}"));
        }
        self.errorf(format!("unexpected {token} in {context}"))
    }

    fn expect(&mut self, typ: ItemType, context: &str) -> PResult<Item> {
        let t = self.next_non_space();
        if t.typ != typ {
            return Err(self.unexpected(&t, context));
        }
        Ok(t)
    }

    fn parse_root(&mut self) -> PResult<Vec<Node>> {
        let mut root = Vec::new();
        while self.peek().typ != ItemType::Eof {
            if self.peek().typ == ItemType::LeftDelim {
                let save = self.idx;
                self.next();
                if self.next_non_space().typ == ItemType::Define {
                    self.parse_definition()?;
                    continue;
                }
                self.idx = save;
            }
            match self.text_or_action()? {
                Some(Ok(n)) => root.push(n),
                Some(Err(ListEnd::End)) => return Err(self.errorf("unexpected {{end}}".into())),
                Some(Err(ListEnd::Else)) => return Err(self.errorf("unexpected {{else}}".into())),
                None => {}
            }
        }
        Ok(root)
    }

    fn parse_definition(&mut self) -> PResult<()> {
        let context = "define clause";
        let tok = self.next_non_space();
        if tok.typ != ItemType::String && tok.typ != ItemType::RawString {
            return Err(self.unexpected(&tok, context));
        }
        let name = self.unquote(&tok.val)?;
        self.expect(ItemType::RightDelim, context)?;
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let (list, end) = self.item_list()?;
        self.vars = saved_vars;
        if let ListEnd::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        self.defined.push(Tree {
            name,
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: list,
        });
        Ok(())
    }

    fn item_list(&mut self) -> PResult<(Vec<Node>, ListEnd)> {
        let mut list = Vec::new();
        while self.peek_non_space().typ != ItemType::Eof {
            match self.text_or_action()? {
                Some(Ok(n)) => list.push(n),
                Some(Err(end)) => return Ok((list, end)),
                None => {}
            }
        }
        Err(self.errorf("unexpected EOF".into()))
    }

    /// `None` for comments; `Err(ListEnd)` for `{{end}}`/`{{else}}`.
    fn text_or_action(&mut self) -> PResult<Option<Result<Node, ListEnd>>> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Text => Ok(Some(Ok(Node::Text(token.val)))),
            ItemType::LeftDelim => {
                self.action_line = token.line;
                let r = self.action();
                self.action_line = 0;
                r.map(Some)
            }
            ItemType::Comment => Ok(None),
            _ => Err(self.unexpected(&token, "input")),
        }
    }

    fn action(&mut self) -> PResult<Result<Node, ListEnd>> {
        let token = self.next_non_space();
        match token.typ {
            ItemType::Block => return self.block_control().map(Ok),
            ItemType::Break | ItemType::Continue => {
                let what = if token.typ == ItemType::Break {
                    "break"
                } else {
                    "continue"
                };
                let t = self.next_non_space();
                if t.typ != ItemType::RightDelim {
                    return Err(self.unexpected(&t, &format!("{{{{{what}}}}}")));
                }
                if self.range_depth == 0 {
                    return Err(self.errorf(format!("{{{{{what}}}}} outside {{{{range}}}}")));
                }
                return Ok(Ok(if what == "break" {
                    Node::Break(token.pos)
                } else {
                    Node::Continue(token.pos)
                }));
            }
            ItemType::Else => {
                let peek = self.peek_non_space();
                // Go 1.19 (Prometheus 2.42) knows `else if` only; `else with` came in Go 1.23.
                if peek.typ == ItemType::If {
                    return Ok(Err(ListEnd::Else));
                }
                self.expect(ItemType::RightDelim, "else")?;
                return Ok(Err(ListEnd::Else));
            }
            ItemType::End => {
                self.expect(ItemType::RightDelim, "end")?;
                return Ok(Err(ListEnd::End));
            }
            ItemType::If => return self.control("if").map(|b| Ok(Node::If(b))),
            ItemType::Range => return self.control("range").map(|b| Ok(Node::Range(b))),
            ItemType::With => return self.control("with").map(|b| Ok(Node::With(b))),
            ItemType::Template => return self.template_control().map(Ok),
            _ => {}
        }
        self.backup();
        let pipe = self.pipeline("command", ItemType::RightDelim)?;
        Ok(Ok(Node::Action(pipe)))
    }

    fn control(&mut self, context: &str) -> PResult<Branch> {
        if self.depth >= MAX_NESTING {
            return Err(self.errorf("max nesting depth exceeded".into()));
        }
        self.depth += 1;
        let mark = self.vars.len();
        let r = self.control_inner(context);
        self.vars.truncate(mark);
        self.depth -= 1;
        r
    }

    fn control_inner(&mut self, context: &str) -> PResult<Branch> {
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if context == "range" {
            self.range_depth += 1;
        }
        let r = self.item_list();
        if context == "range" {
            self.range_depth -= 1;
        }
        let (list, next) = r?;
        let mut else_list = None;
        if let ListEnd::Else = next {
            let p = self.peek().typ;
            if context == "if" && p == ItemType::If {
                self.next();
                else_list = Some(vec![Node::If(self.control(context)?)]);
            } else {
                let (l, n) = self.item_list()?;
                if let ListEnd::Else = n {
                    return Err(self.errorf("expected end; found {{else}}".into()));
                }
                else_list = Some(l);
            }
        }
        Ok(Branch {
            pos: pipe.pos,
            pipe,
            list,
            else_list,
        })
    }

    fn template_name(&mut self, token: &Item, context: &str) -> PResult<String> {
        match token.typ {
            ItemType::String | ItemType::RawString => self.unquote(&token.val),
            _ => Err(self.unexpected(token, context)),
        }
    }

    fn template_control(&mut self) -> PResult<Node> {
        let context = "template clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, context)?;
        let mut pipe = None;
        if self.next_non_space().typ != ItemType::RightDelim {
            self.backup();
            pipe = Some(self.pipeline(context, ItemType::RightDelim)?);
        }
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe,
        })
    }

    fn block_control(&mut self) -> PResult<Node> {
        let context = "block clause";
        let token = self.next_non_space();
        let name = self.template_name(&token, context)?;
        let pipe = self.pipeline(context, ItemType::RightDelim)?;
        if self.depth >= MAX_NESTING {
            return Err(self.errorf("max nesting depth exceeded".into()));
        }
        let saved_vars = std::mem::replace(&mut self.vars, vec!["$".to_string()]);
        let saved_depth = std::mem::replace(&mut self.range_depth, 0);
        self.depth += 1;
        let r = self.item_list();
        self.depth -= 1;
        self.vars = saved_vars;
        self.range_depth = saved_depth;
        let (list, end) = r?;
        if let ListEnd::Else = end {
            return Err(self.errorf(format!("unexpected {{{{else}}}} in {context}")));
        }
        self.defined.push(Tree {
            name: name.clone(),
            parse_name: self.parse_name.clone(),
            text: self.text.clone(),
            root: list,
        });
        Ok(Node::Template {
            pos: token.pos,
            name,
            pipe: Some(pipe),
        })
    }

    fn pipeline(&mut self, context: &str, end: ItemType) -> PResult<Pipe> {
        let token = self.peek_non_space();
        let mut pipe = Pipe {
            pos: token.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        loop {
            let v = self.peek_non_space();
            if v.typ != ItemType::Variable {
                break;
            }
            let save = self.idx;
            self.next_non_space();
            let next = self.peek_non_space();
            match next.typ {
                ItemType::Assign | ItemType::Declare => {
                    pipe.is_assign = next.typ == ItemType::Assign;
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    break;
                }
                ItemType::Char if next.val == "," => {
                    self.next_non_space();
                    pipe.decl.push(v.val.clone());
                    self.vars.push(v.val);
                    if context == "range" && pipe.decl.len() < 2 {
                        match self.peek_non_space().typ {
                            ItemType::Variable | ItemType::RightDelim | ItemType::RightParen => {
                                continue
                            }
                            _ => {
                                return Err(
                                    self.errorf("range can only initialize variables".into())
                                )
                            }
                        }
                    }
                    return Err(self.errorf(format!("too many declarations in {context}")));
                }
                _ => {
                    self.idx = save;
                    break;
                }
            }
        }
        loop {
            let token = self.next_non_space();
            if token.typ == end {
                if pipe.cmds.is_empty() {
                    return Err(self.errorf(format!("missing value for {context}")));
                }
                for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
                    if matches!(
                        c.args.first(),
                        Some(
                            Arg::Bool(..)
                                | Arg::Dot(_)
                                | Arg::Nil(_)
                                | Arg::Number { .. }
                                | Arg::String { .. }
                        )
                    ) {
                        return Err(self.errorf(format!(
                            "non executable command in pipeline stage {}",
                            i + 1
                        )));
                    }
                }
                return Ok(pipe);
            }
            match token.typ {
                ItemType::Bool
                | ItemType::CharConstant
                | ItemType::Dot
                | ItemType::Field
                | ItemType::Identifier
                | ItemType::Number
                | ItemType::Nil
                | ItemType::RawString
                | ItemType::String
                | ItemType::Variable
                | ItemType::LeftParen => {
                    self.backup();
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
                _ => return Err(self.unexpected(&token, context)),
            }
        }
    }

    fn command(&mut self) -> PResult<Cmd> {
        let pos = self.peek_non_space().pos;
        let mut cmd = Cmd {
            pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            if let Some(op) = self.operand()? {
                cmd.args.push(op);
            }
            let token = self.next();
            match token.typ {
                ItemType::Space => continue,
                ItemType::RightDelim | ItemType::RightParen => self.backup(),
                ItemType::Pipe => {}
                _ => return Err(self.unexpected(&token, "operand")),
            }
            break;
        }
        if cmd.args.is_empty() {
            return Err(self.errorf("empty command".into()));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> PResult<Option<Arg>> {
        let Some(node) = self.term()? else {
            return Ok(None);
        };
        if self.peek().typ != ItemType::Field {
            return Ok(Some(node));
        }
        let chain_pos = self.peek().pos;
        let mut fields = Vec::new();
        while self.peek().typ == ItemType::Field {
            let f = self.next().val;
            fields.push(f[1..].to_string());
        }
        Ok(Some(match node {
            // Go rebuilds these at the chain's position (that of the second field).
            Arg::Field { mut idents, .. } => {
                idents.extend(fields);
                Arg::Field {
                    pos: chain_pos,
                    idents,
                }
            }
            Arg::Variable {
                name,
                fields: mut f0,
                ..
            } => {
                f0.extend(fields);
                Arg::Variable {
                    pos: chain_pos,
                    name,
                    fields: f0,
                }
            }
            Arg::Bool(..) | Arg::String { .. } | Arg::Number { .. } | Arg::Nil(_) | Arg::Dot(_) => {
                let q = crate::base::go::quote(&node.to_string());
                return Err(self.errorf(format!("unexpected . after term {q}")));
            }
            other => Arg::Chain {
                pos: chain_pos,
                node: Box::new(other),
                fields,
            },
        }))
    }

    fn term(&mut self) -> PResult<Option<Arg>> {
        let token = self.next_non_space();
        let pos = token.pos;
        Ok(Some(match token.typ {
            ItemType::Identifier => {
                if !(self.has_func)(&token.val) {
                    return Err(self.errorf(format!(
                        "function {} not defined",
                        crate::base::go::quote(&token.val)
                    )));
                }
                Arg::Ident {
                    pos,
                    name: token.val,
                }
            }
            ItemType::Dot => Arg::Dot(pos),
            ItemType::Nil => Arg::Nil(pos),
            ItemType::Variable => {
                let mut parts = token.val.split('.');
                let name = parts.next().unwrap_or("$").to_string();
                if !self.vars.contains(&name) {
                    return Err(self.errorf(format!(
                        "undefined variable {}",
                        crate::base::go::quote(&name)
                    )));
                }
                Arg::Variable {
                    pos,
                    name,
                    fields: parts.map(str::to_string).collect(),
                }
            }
            ItemType::Field => Arg::Field {
                pos,
                idents: vec![token.val[1..].to_string()],
            },
            ItemType::Bool => Arg::Bool(pos, token.val == "true"),
            ItemType::CharConstant | ItemType::Number => {
                let value = self.number(&token)?;
                Arg::Number {
                    pos,
                    text: token.val,
                    value,
                }
            }
            ItemType::LeftParen => {
                if self.depth >= MAX_NESTING {
                    return Err(self.errorf("max expression depth exceeded".into()));
                }
                self.depth += 1;
                let p = self.pipeline("parenthesized pipeline", ItemType::RightParen);
                self.depth -= 1;
                Arg::Pipe(Box::new(p?))
            }
            ItemType::String | ItemType::RawString => {
                let s = self.unquote(&token.val)?;
                Arg::String {
                    pos,
                    quoted: token.val,
                    value: Arc::from(s),
                }
            }
            _ => {
                self.backup();
                return Ok(None);
            }
        }))
    }

    fn number(&self, token: &Item) -> PResult<Value> {
        let text = token.val.as_str();
        if token.typ == ItemType::CharConstant {
            let inner = crate::base::go::unquote(text, '\'')
                .ok_or_else(|| self.errorf(format!("malformed character constant: {text}")))?;
            let mut cs = inner.chars();
            return match (cs.next(), cs.next()) {
                (Some(c), None) => Ok(Value::Int(i64::from(u32::from(c)))),
                _ => Err(self.errorf(format!("malformed character constant: {text}"))),
            };
        }
        if text.ends_with('i') {
            return Err(self.errorf(format!(
                "illegal number syntax: {}",
                crate::base::go::quote(text)
            )));
        }
        let clean: String = text.chars().filter(|c| *c != '_').collect();
        let (neg, body) = match clean.strip_prefix('-') {
            Some(b) => (true, b.to_string()),
            None => (false, clean.trim_start_matches('+').to_string()),
        };
        let lower = body.to_ascii_lowercase();
        let int = if let Some(h) = lower.strip_prefix("0x") {
            i64::from_str_radix(h, 16).ok()
        } else if let Some(o) = lower.strip_prefix("0o") {
            i64::from_str_radix(o, 8).ok()
        } else if let Some(b) = lower.strip_prefix("0b") {
            i64::from_str_radix(b, 2).ok()
        } else if lower.len() > 1
            && lower.starts_with('0')
            && lower.bytes().all(|b| b.is_ascii_digit())
        {
            i64::from_str_radix(&lower[1..], 8).ok()
        } else {
            lower.parse::<i64>().ok()
        };
        let floaty = !lower.starts_with("0x") && lower.contains(['.', 'e']);
        if let (Some(i), false) = (int, floaty) {
            return Ok(Value::Int(if neg { -i } else { i }));
        }
        match lower.parse::<f64>() {
            Ok(f) if f.is_finite() && !lower.starts_with("0x") => {
                Ok(Value::Float(if neg { -f } else { f }))
            }
            _ => Err(self.errorf(format!(
                "illegal number syntax: {}",
                crate::base::go::quote(text)
            ))),
        }
    }

    fn unquote(&self, quoted: &str) -> PResult<String> {
        let r = if quoted.starts_with('`') {
            Some(
                quoted
                    .get(1..quoted.len().saturating_sub(1))
                    .unwrap_or("")
                    .replace('\r', ""),
            )
        } else {
            crate::base::go::unquote_bytes(quoted)
        };
        r.ok_or_else(|| self.errorf("invalid syntax".into()))
    }
}

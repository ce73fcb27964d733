//! Executor for parsed templates: walks a [`Tree`] over a [`Value`] with variables, `range`
//! with break/continue, `template` calls, lazy `and`/`or`, method calls on objects, and Go's
//! execution error texts (`template: NAME:LINE:COL: executing "NAME" at <node>: …`).

use std::collections::HashMap;
use std::sync::Arc;

use super::ast::{Arg, Branch, Cmd, Node, ParseError, Pipe, Tree};
use super::funcs::{self, FuncError, FuncMap, Funcs};
use super::parse;
use super::value::Value;

/// What a missing map key evaluates to (Go's `missingkey=` option).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum MissingKey {
    /// Go's default: an invalid value, printed as `<no value>`.
    #[default]
    Invalid,
    /// The zero value of the map's element type (`""` for `map[string]string`).
    Zero,
    /// An execution error `map has no entry for key "x"`.
    Error,
}

/// An execution error, displayed with Go's text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ExecError(pub String);

/// A set of named templates parsed together (Go's `*template.Template` and its associates),
/// executed with a function map. Parse once, execute many times.
#[derive(Debug, Default, Clone)]
pub struct Templates {
    trees: HashMap<String, Arc<Tree>>,
    pub missing_key: MissingKey,
}

/// Bound on nested template calls plus nested if/with/range during one execution. Go allows
/// 100000 template calls on its growable stacks; ours are fixed (a tokio worker has 2 MiB).
const MAX_DEPTH: usize = 300;

impl Templates {
    pub fn new(missing_key: MissingKey) -> Self {
        Templates {
            trees: HashMap::new(),
            missing_key,
        }
    }

    /// Parses `text` as template `name` (plus any templates it defines) and adds them, with
    /// Go's rule that an empty body does not replace an existing template. `funcs` are the
    /// functions beyond the builtins that the text may call.
    pub fn parse(&mut self, name: &str, text: &str, funcs: &[&FuncMap]) -> Result<(), ParseError> {
        let has = |n: &str| funcs::is_builtin(n) || funcs.iter().any(|m| m.contains(n));
        let (main, defined) = parse::parse(name, text, &has)?;
        for t in std::iter::once(main).chain(defined) {
            if t.is_empty() && self.trees.contains_key(&t.name) {
                continue;
            }
            self.trees.insert(t.name.clone(), Arc::new(t));
        }
        Ok(())
    }

    pub fn has(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// Adds an already parsed tree, replacing one of the same name (for callers that
    /// rewrite trees before execution: the e-mail HTML escaper in `alert::notify::html`).
    pub fn insert_tree(&mut self, tree: Tree) {
        self.trees.insert(tree.name.clone(), Arc::new(tree));
    }

    /// Executes template `name` with `data` as dot, appending the output to `out`.
    pub fn execute_into(
        &self,
        out: &mut String,
        name: &str,
        data: &Value,
        funcs: &[&FuncMap],
    ) -> Result<(), ExecError> {
        let funcs: Vec<&dyn Funcs> = funcs.iter().map(|m| *m as &dyn Funcs).collect();
        self.execute_with_into(out, name, data, &funcs)
    }

    /// [`Templates::execute_into`] with any function sets, for callers whose functions
    /// borrow from them (earlier sets win, as with [`FuncMap`]s).
    pub fn execute_with_into(
        &self,
        out: &mut String,
        name: &str,
        data: &Value,
        funcs: &[&dyn Funcs],
    ) -> Result<(), ExecError> {
        let Some(tree) = self.trees.get(name) else {
            return Err(ExecError(format!(
                "template: no template {} associated with template {}",
                crate::base::go::quote(name),
                crate::base::go::quote(name)
            )));
        };
        let mut st = State {
            set: self,
            funcs,
            out,
            vars: vec![("$".to_string(), data.clone())],
            tree: tree.clone(),
            depth: 0,
        };
        st.walk(data, &tree.root).map(|_| ())
    }

    /// Executes template `name` with `data` as dot and returns the output.
    pub fn execute(
        &self,
        name: &str,
        data: &Value,
        funcs: &[&FuncMap],
    ) -> Result<String, ExecError> {
        let mut out = String::new();
        self.execute_into(&mut out, name, data, funcs)?;
        Ok(out)
    }

    /// [`Templates::execute`] with any function sets (see [`Templates::execute_with_into`]).
    pub fn execute_with(
        &self,
        name: &str,
        data: &Value,
        funcs: &[&dyn Funcs],
    ) -> Result<String, ExecError> {
        let mut out = String::new();
        self.execute_with_into(&mut out, name, data, funcs)?;
        Ok(out)
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct State<'a> {
    set: &'a Templates,
    funcs: &'a [&'a dyn Funcs],
    out: &'a mut String,
    vars: Vec<(String, Value)>,
    tree: Arc<Tree>,
    depth: usize,
}

type R<T> = Result<T, ExecError>;

impl State<'_> {
    fn err(&self, pos: usize, context: &dyn std::fmt::Display, msg: &str) -> ExecError {
        let ctx = context.to_string();
        ExecError(format!(
            "template: {}: executing {} at <{}>: {}",
            self.tree.location(pos),
            crate::base::go::quote(&self.tree.name),
            ctx,
            msg
        ))
    }

    fn walk(&mut self, dot: &Value, list: &[Node]) -> R<Flow> {
        for node in list {
            match self.walk_node(dot, node)? {
                Flow::Normal => {}
                f => return Ok(f),
            }
        }
        Ok(Flow::Normal)
    }

    fn walk_node(&mut self, dot: &Value, node: &Node) -> R<Flow> {
        match node {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(pipe) => {
                let v = self.eval_pipeline(dot, pipe)?;
                if pipe.decl.is_empty() {
                    match v {
                        Value::Nil => self.out.push_str("<no value>"),
                        v => v.write_go(self.out),
                    }
                }
            }
            Node::If(b) | Node::With(b) | Node::Range(b) => {
                if self.depth >= MAX_DEPTH {
                    return Err(self.err(
                        b.pos,
                        &b.pipe,
                        &format!("exceeded maximum template depth ({MAX_DEPTH})"),
                    ));
                }
                self.depth += 1;
                let mark = self.vars.len();
                let r = match node {
                    Node::Range(_) => self.walk_range(dot, b),
                    _ => self.walk_if_with(dot, b, matches!(node, Node::With(_))),
                };
                self.vars.truncate(mark);
                self.depth -= 1;
                return r;
            }
            Node::Template { pos, name, pipe } => {
                let Some(tree) = self.set.trees.get(name).cloned() else {
                    let ctx = template_ctx(name, pipe.as_ref());
                    return Err(self.err(
                        *pos,
                        &ctx,
                        &format!("template {} not defined", crate::base::go::quote(name)),
                    ));
                };
                if self.depth >= MAX_DEPTH {
                    let ctx = template_ctx(name, pipe.as_ref());
                    return Err(self.err(
                        *pos,
                        &ctx,
                        &format!("exceeded maximum template depth ({MAX_DEPTH})"),
                    ));
                }
                let new_dot = match pipe {
                    Some(p) => self.eval_pipeline(dot, p)?,
                    None => Value::Nil,
                };
                let saved_vars =
                    std::mem::replace(&mut self.vars, vec![("$".to_string(), new_dot.clone())]);
                let saved_tree = std::mem::replace(&mut self.tree, tree.clone());
                self.depth += 1;
                let r = self.walk(&new_dot, &tree.root);
                self.depth -= 1;
                self.tree = saved_tree;
                self.vars = saved_vars;
                r?;
            }
            Node::Break(_) => return Ok(Flow::Break),
            Node::Continue(_) => return Ok(Flow::Continue),
        }
        Ok(Flow::Normal)
    }

    fn walk_if_with(&mut self, dot: &Value, b: &Branch, is_with: bool) -> R<Flow> {
        let v = self.eval_pipeline(dot, &b.pipe)?;
        if v.truth() {
            if is_with {
                self.walk(&v, &b.list)
            } else {
                self.walk(dot, &b.list)
            }
        } else if let Some(e) = &b.else_list {
            self.walk(dot, e)
        } else {
            Ok(Flow::Normal)
        }
    }

    fn walk_range(&mut self, dot: &Value, b: &Branch) -> R<Flow> {
        // As Go: the declared variables first hold the whole value (visible so in {{else}}),
        // then each iteration sets them to the index/key and element.
        let v = self.eval_pipeline(dot, &b.pipe)?;
        let mark = self.vars.len();
        let items: Vec<(Value, Value)> = match v.base() {
            Value::List(l) => l
                .iter()
                .enumerate()
                .map(|(i, e)| (Value::Int(i as i64), e.clone()))
                .collect(),
            Value::Map(m) => m
                .entries
                .iter()
                .map(|(k, e)| (Value::from(k.as_str()), e.clone()))
                .collect(),
            Value::Nil => Vec::new(),
            other => {
                let mut s = String::new();
                other.write_go(&mut s);
                // Go reports the node it evaluated last: the last command's first word.
                let (pos, ctx): (usize, &dyn std::fmt::Display) =
                    match b.pipe.cmds.last().and_then(|c| c.args.first()) {
                        Some(a) => (a.pos(), a),
                        None => (b.pos, &b.pipe),
                    };
                return Err(self.err(pos, ctx, &format!("range can't iterate over {s}")));
            }
        };
        if items.is_empty() {
            if let Some(e) = &b.else_list {
                return self.walk(dot, e);
            }
            return Ok(Flow::Normal);
        }
        for (k, e) in items {
            self.vars.truncate(mark);
            let (first, second) = match b.pipe.decl.len() {
                0 => (None, None),
                1 => (Some(e.clone()), None),
                _ => (Some(k), Some(e.clone())),
            };
            for (name, value) in b.pipe.decl.iter().zip([first, second]) {
                let Some(value) = value else { continue };
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value;
                }
            }
            match self.walk(&e, &b.list)? {
                Flow::Break => break,
                Flow::Continue | Flow::Normal => {}
            }
        }
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline's commands, without binding its declarations.
    fn eval_pipeline_no_decl(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.eval_command(dot, cmd, value)?);
        }
        Ok(value.unwrap_or(Value::Nil))
    }

    fn eval_pipeline(&mut self, dot: &Value, pipe: &Pipe) -> R<Value> {
        let value = self.eval_pipeline_no_decl(dot, pipe)?;
        for name in &pipe.decl {
            if pipe.is_assign {
                match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    Some(slot) => slot.1 = value.clone(),
                    None => {
                        // Go reports the node evaluated last: the last argument.
                        let (pos, ctx): (usize, &dyn std::fmt::Display) =
                            match pipe.cmds.last().and_then(|c| c.args.last()) {
                                Some(a) => (a.pos(), a),
                                None => (pipe.pos, pipe),
                            };
                        return Err(self.err(pos, ctx, &format!("undefined variable: {name}")));
                    }
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn var(&self, name: &str) -> Value {
        self.vars
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or(Value::Nil)
    }

    fn eval_command(&mut self, dot: &Value, cmd: &Cmd, fin: Option<Value>) -> R<Value> {
        let Some(first) = cmd.args.first() else {
            return Ok(Value::Nil);
        };
        match first {
            Arg::Field { pos, idents } => {
                self.eval_field_chain(dot, dot.clone(), *pos, first, idents, &cmd.args, fin)
            }
            Arg::Chain { pos, node, fields } => {
                let recv = self.eval_arg(dot, node)?;
                self.eval_field_chain(dot, recv, *pos, first, fields, &cmd.args, fin)
            }
            Arg::Ident { name, pos } => {
                self.eval_function(dot, name, *pos, &cmd.args[1..], (cmd.pos, cmd), fin)
            }
            Arg::Variable { pos, name, fields } => {
                let v = self.var(name);
                if fields.is_empty() {
                    self.not_a_function(cmd, &fin)?;
                    return Ok(v);
                }
                self.eval_field_chain(dot, v, *pos, first, fields, &cmd.args, fin)
            }
            Arg::Pipe(p) => {
                self.not_a_function(cmd, &fin)?;
                self.eval_pipeline(dot, p)
            }
            Arg::Nil(pos) => Err(self.err(*pos, cmd, "nil is not a command")),
            other => {
                self.not_a_function(cmd, &fin)?;
                self.eval_arg(dot, other)
            }
        }
    }

    fn not_a_function(&self, cmd: &Cmd, fin: &Option<Value>) -> R<()> {
        if cmd.args.len() > 1 || fin.is_some() {
            let first = &cmd.args[0];
            return Err(self.err(
                first.pos(),
                first,
                &format!("can't give argument to non-function {first}"),
            ));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field_chain(
        &mut self,
        dot: &Value,
        mut recv: Value,
        pos: usize,
        node: &Arg,
        idents: &[String],
        args: &[Arg],
        fin: Option<Value>,
    ) -> R<Value> {
        let n = idents.len();
        for (i, ident) in idents.iter().enumerate() {
            // A nil met inside a chain is a nil interface (an interface map's zero value or
            // a nil element): Go cannot look a field up in it, whatever missingkey says. Its
            // report names the node evaluated last.
            if i > 0 && matches!(recv, Value::Nil) && self.set.missing_key == MissingKey::Zero {
                let (at_pos, at): (usize, &Arg) = match node {
                    Arg::Chain { node: inner, .. } => {
                        let last = last_evaluated(inner);
                        (last.pos(), last)
                    }
                    other => (pos, other),
                };
                return Err(self.err(
                    at_pos,
                    at,
                    &format!("nil pointer evaluating interface {{}}.{ident}"),
                ));
            }
            if i + 1 < n {
                recv = self.eval_field(dot, ident, pos, node, &[], None, recv)?;
            } else {
                return self.eval_field(dot, ident, pos, node, args, fin, recv);
            }
        }
        Ok(recv)
    }

    #[allow(clippy::too_many_arguments)]
    fn eval_field(
        &mut self,
        dot: &Value,
        name: &str,
        pos: usize,
        node: &Arg,
        args: &[Arg],
        fin: Option<Value>,
        recv: Value,
    ) -> R<Value> {
        let has_args = args.len() > 1 || fin.is_some();
        if let Value::Object(o) = &recv {
            let mut vals = Vec::with_capacity(args.len());
            for a in args.iter().skip(1) {
                vals.push(self.eval_arg(dot, a)?);
            }
            if let Some(f) = fin.clone() {
                vals.push(f);
            }
            match o.method(name, &vals) {
                Some(Ok(v)) => return Ok(v),
                Some(Err(e)) => {
                    return Err(self.err(pos, node, &format!("error calling {name}: {e}")));
                }
                None => {}
            }
        }
        match recv.base() {
            Value::Map(m) => {
                if has_args {
                    return Err(self.err(
                        pos,
                        node,
                        &format!("{name} is not a method but has arguments"),
                    ));
                }
                match m.entries.get(name) {
                    Some(v) => Ok(v.clone()),
                    None => match self.set.missing_key {
                        MissingKey::Invalid => Ok(Value::Nil),
                        MissingKey::Zero => Ok(m.zero.clone()),
                        MissingKey::Error => Err(self.err(
                            pos,
                            node,
                            &format!("map has no entry for key {}", crate::base::go::quote(name)),
                        )),
                    },
                }
            }
            Value::Nil => {
                if self.set.missing_key == MissingKey::Error {
                    return Err(self.err(
                        pos,
                        node,
                        &format!(
                            "nil data; no entry for key {}",
                            crate::base::go::quote(name)
                        ),
                    ));
                }
                Ok(Value::Nil)
            }
            other => Err(self.err(
                pos,
                node,
                &format!("can't evaluate field {name} in type {}", other.type_name()),
            )),
        }
    }

    /// Calls function `name` (identifier at `pos`) with `args` (and the piped `fin`); call
    /// errors are reported at `cmd`, the command (or lone identifier) being evaluated.
    fn eval_function(
        &mut self,
        dot: &Value,
        name: &str,
        pos: usize,
        args: &[Arg],
        cmd: (usize, &dyn std::fmt::Display),
        fin: Option<Value>,
    ) -> R<Value> {
        // Go 1.18+: and/or evaluate their arguments lazily.
        if (name == "and" || name == "or") && !self.funcs.iter().any(|m| m.contains(name)) {
            let n = args.len() + usize::from(fin.is_some());
            if n == 0 {
                return Err(self.err(
                    pos,
                    &name,
                    &format!("wrong number of args for {name}: want at least 1 got 0"),
                ));
            }
            let mut last = Value::Nil;
            for a in args {
                last = self.eval_arg(dot, a)?;
                if last.truth() == (name == "or") {
                    return Ok(last);
                }
            }
            if let Some(f) = fin {
                last = f;
            }
            return Ok(last);
        }
        let mut vals = Vec::with_capacity(args.len() + 1);
        for a in args {
            vals.push(self.eval_arg(dot, a)?);
        }
        if let Some(f) = fin {
            vals.push(f);
        }
        let r = self
            .funcs
            .iter()
            .find_map(|m| m.call(name, &vals))
            .unwrap_or_else(|| funcs::call_builtin(name, &vals));
        r.map_err(|e| match e {
            FuncError::Call(msg) => self.err(cmd.0, cmd.1, &format!("error calling {name}: {msg}")),
            FuncError::Args(msg) => self.err(pos, &name, &msg),
            FuncError::Type {
                arg,
                want,
                got,
                nil,
            } => match args.get(arg) {
                // Go converts literals to the parameter's kind; of the kinds our functions
                // declare, only string has a conversion (and its own message).
                Some(a @ (Arg::Number { .. } | Arg::Bool(..) | Arg::String { .. })) => {
                    if want == "string" {
                        self.err(a.pos(), a, &format!("expected string; found {a}"))
                    } else {
                        self.err(
                            a.pos(),
                            a,
                            &format!("can't handle {a} for arg of type {want}"),
                        )
                    }
                }
                Some(a @ Arg::Nil(_)) => {
                    self.err(a.pos(), a, &format!("cannot assign nil to {want}"))
                }
                Some(a) if nil => self.err(a.pos(), a, &format!("invalid value; expected {want}")),
                Some(a) => self.err(
                    a.pos(),
                    a,
                    &format!("wrong type for value; expected {want}; got {got}"),
                ),
                None => self.err(
                    cmd.0,
                    cmd.1,
                    &format!("wrong type for value; expected {want}; got {got}"),
                ),
            },
        })
    }

    fn eval_arg(&mut self, dot: &Value, arg: &Arg) -> R<Value> {
        match arg {
            Arg::Dot(_) => Ok(dot.clone()),
            Arg::Nil(_) => Ok(Value::Nil),
            Arg::Bool(_, b) => Ok(Value::Bool(*b)),
            Arg::Number { value, .. } => Ok(value.clone()),
            Arg::String { value, .. } => Ok(Value::String(value.clone())),
            Arg::Field { pos, idents } => {
                let args = std::slice::from_ref(arg);
                self.eval_field_chain(dot, dot.clone(), *pos, arg, idents, args, None)
            }
            Arg::Variable { pos, name, fields } => {
                let v = self.var(name);
                if fields.is_empty() {
                    return Ok(v);
                }
                let args = std::slice::from_ref(arg);
                self.eval_field_chain(dot, v, *pos, arg, fields, args, None)
            }
            Arg::Chain { pos, node, fields } => {
                let recv = self.eval_arg(dot, node)?;
                let args = std::slice::from_ref(arg);
                self.eval_field_chain(dot, recv, *pos, arg, fields, args, None)
            }
            Arg::Pipe(p) => {
                let mark = self.vars.len();
                let r = self.eval_pipeline(dot, p);
                self.vars.truncate(mark);
                r
            }
            Arg::Ident { pos, name } => self.eval_function(dot, name, *pos, &[], (*pos, arg), None),
        }
    }
}

/// The node Go's executor visits last when evaluating `a` (its `s.at` position).
fn last_evaluated(a: &Arg) -> &Arg {
    match a {
        Arg::Pipe(p) => match p.cmds.last() {
            Some(c) => match c.args.last() {
                Some(last) => last_evaluated(last),
                None => a,
            },
            None => a,
        },
        other => other,
    }
}

fn template_ctx(name: &str, pipe: Option<&Pipe>) -> String {
    match pipe {
        Some(p) => format!("{{{{template {} {p}}}}}", crate::base::go::quote(name)),
        None => format!("{{{{template {}}}}}", crate::base::go::quote(name)),
    }
}

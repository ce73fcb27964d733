//! CEL body matching (`fail_if_body_json_matches_cel` / `fail_if_body_json_not_matches_cel`),
//! after blackbox_exporter's `config.NewCELProgram` and `matchCELExpressions` (cel-go).
//!
//! At load, an expression is parsed by the `cel` crate and then checked the way cel-go's
//! type-checker refuses programs in upstream's environment (one variable, `body`, of type
//! dyn, and the standard library only): every identifier must be `body`, a comprehension
//! variable in scope or a standard type name, every function must be one of cel-go's standard
//! functions, and message construction is refused. The crate itself resolves names only when
//! evaluating, so without this check `foo.bar` would load and fail every probe instead.
//! What is not checked: the static types of literals (`'a' == 1` loads here, cel-go refuses
//! it at load; here it evaluates to false, as cel-go's runtime would).
//!
//! At probe time the body is parsed as JSON the way Go's `encoding/json` fills an `any`
//! (numbers become doubles, invalid UTF-8 in strings becomes U+FFFD, the last duplicate key
//! wins) and bound as `body`. Equality between numbers of different types holds when their
//! values are equal, as in cel-go (`body.n == 5` for `{"n": 5}`).
//!
//! Evaluation runs on the blocking pool: cel-go interrupts a long evaluation at the probe
//! deadline, the crate cannot be interrupted, so a pathological expression over a large body
//! ties up one blocking thread while the probe itself still ends at its timeout.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use cel::common::ast::{EntryExpr, Expr, IdedExpr};
use cel::objects::{Key, Map};
use cel::{Context, Env, Program, Value};

/// cel-go's standard functions and operators (its `stdlib` declarations; the macros `has`,
/// `all`, `exists`, `exists_one`, `map` and `filter` are expanded by the parser).
const STANDARD_FUNCTIONS: &[&str] = &[
    "_?_:_",
    "_&&_",
    "_||_",
    "!_",
    "-_",
    "_==_",
    "_!=_",
    "_<_",
    "_<=_",
    "_>_",
    "_>=_",
    "_+_",
    "_-_",
    "_*_",
    "_/_",
    "_%_",
    "_[_]",
    "@in",
    "@not_strictly_false",
    "size",
    "contains",
    "endsWith",
    "startsWith",
    "matches",
    "type",
    "dyn",
    "int",
    "uint",
    "double",
    "string",
    "bytes",
    "bool",
    "duration",
    "timestamp",
    "getFullYear",
    "getMonth",
    "getDayOfYear",
    "getDayOfMonth",
    "getDate",
    "getDayOfWeek",
    "getHours",
    "getMinutes",
    "getSeconds",
    "getMilliseconds",
];

/// cel-go's standard type identifiers.
const STANDARD_TYPES: &[&str] = &[
    "bool",
    "bytes",
    "double",
    "int",
    "list",
    "map",
    "null_type",
    "string",
    "type",
    "uint",
];

/// The one environment every program is compiled and run in: the standard library, its
/// macros, no optional syntax (cel-go's default environment has none).
fn env() -> &'static Arc<Env> {
    static ENV: OnceLock<Arc<Env>> = OnceLock::new();
    ENV.get_or_init(|| Arc::new(Env::stdlib().with_optional_support(false)))
}

/// A compiled CEL expression with its source text (printed in logs). One pointer wide, so
/// the http module stays small.
#[derive(Clone)]
pub struct CelProgram(Arc<Compiled>);

struct Compiled {
    expression: String,
    program: Program,
}

impl std::fmt::Debug for CelProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("CelProgram")
            .field(&self.0.expression)
            .finish()
    }
}

/// Why an expression did not compile, in cel-go's wording where it has one.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CompileError(String);

impl CelProgram {
    /// Parses and checks `expression` in upstream's environment (see the module docs).
    pub fn compile(expression: &str) -> Result<Self, CompileError> {
        let program = env().compile(expression).map_err(|e| {
            let text = e.to_string();
            CompileError(text.lines().next().unwrap_or_default().to_string())
        })?;
        let mut scope = vec!["body".to_string()];
        check(program.expression(), &mut scope).map_err(|(id, message)| {
            let (line, col) = program
                .source_info()
                .offset_for(id)
                .map(|(start, _)| line_col(expression, start as usize))
                .unwrap_or((1, 1));
            CompileError(format!("ERROR: <input>:{line}:{col}: {message}"))
        })?;
        Ok(Self(Arc::new(Compiled {
            expression: expression.to_string(),
            program,
        })))
    }

    /// The expression as configured.
    pub fn expression(&self) -> &str {
        &self.0.expression
    }

    /// Evaluates the program with `body` bound; off the async workers (see the module docs).
    pub async fn eval(&self, body: Arc<Value>) -> Result<Value, String> {
        let compiled = self.0.clone();
        let run = move || {
            let mut cx = Context::with_env(env().clone());
            cx.add_variable_from_value("body", (*body).clone());
            compiled.program.execute(&cx).map_err(|e| e.to_string())
        };
        match tokio::task::spawn_blocking(run).await {
            Ok(r) => r,
            Err(e) => Err(format!("evaluation aborted: {e}")),
        }
    }
}

/// 1-based line and column of the character at `offset` in `src`.
fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let mut line = 1;
    let mut col = 1;
    for c in src.chars().take(offset) {
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    (line, col)
}

/// cel-go's checker refusals that matter for an untyped `body`: undeclared identifiers and
/// functions, and message construction. Returns the offending node's id and the message.
fn check(e: &IdedExpr, scope: &mut Vec<String>) -> Result<(), (u64, String)> {
    let undeclared = |name: &str| {
        (
            e.id,
            format!("undeclared reference to '{name}' (in container '')"),
        )
    };
    match &e.expr {
        Expr::Unspecified | Expr::Literal(_) => Ok(()),
        Expr::Ident(name) => {
            if scope.iter().any(|s| s == name) || STANDARD_TYPES.contains(&name.as_str()) {
                Ok(())
            } else {
                Err(undeclared(name))
            }
        }
        Expr::Select(s) => check(&s.operand, scope),
        Expr::Call(call) => {
            if let Some(t) = &call.target {
                check(t, scope)?;
            }
            if !STANDARD_FUNCTIONS.contains(&call.func_name.as_str()) {
                return Err(undeclared(&call.func_name));
            }
            call.args.iter().try_for_each(|a| check(a, scope))
        }
        Expr::List(l) => l.elements.iter().try_for_each(|x| check(x, scope)),
        Expr::Map(m) => m.entries.iter().try_for_each(|entry| match &entry.expr {
            EntryExpr::MapEntry(me) => {
                check(&me.key, scope)?;
                check(&me.value, scope)
            }
            EntryExpr::StructField(f) => check(&f.value, scope),
        }),
        Expr::Struct(s) => Err(undeclared(&s.type_name)),
        Expr::Comprehension(c) => {
            check(&c.iter_range, scope)?;
            check(&c.accu_init, scope)?;
            let outer = scope.len();
            scope.push(c.accu_var.clone());
            scope.push(c.iter_var.clone());
            if let Some(v) = &c.iter_var2 {
                scope.push(v.clone());
            }
            let body = check(&c.loop_cond, scope).and_then(|()| check(&c.loop_step, scope));
            scope.truncate(outer);
            body?;
            scope.push(c.accu_var.clone());
            let result = check(&c.result, scope);
            scope.truncate(outer);
            result
        }
    }
}

/// The body as Go's `json.Unmarshal` into `any` sees it, as a CEL value.
pub fn parse_json(body: &[u8]) -> Result<Value, String> {
    // Go replaces invalid UTF-8 inside strings with U+FFFD; anywhere else it is a syntax
    // error in both parsers.
    let text = String::from_utf8_lossy(body);
    match serde_json::from_str::<serde_json::Value>(&text) {
        Ok(v) => Ok(to_cel(v)),
        Err(e) if e.is_eof() && text.trim().is_empty() => {
            Err("unexpected end of JSON input".to_string())
        }
        Err(e) => Err(e.to_string()),
    }
}

fn to_cel(v: serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(b),
        serde_json::Value::Number(n) => Value::Float(n.as_f64().unwrap_or(f64::NAN)),
        serde_json::Value::String(s) => Value::String(Arc::new(s)),
        serde_json::Value::Array(a) => Value::List(Arc::new(a.into_iter().map(to_cel).collect())),
        serde_json::Value::Object(o) => {
            let map: HashMap<Key, Value> = o
                .into_iter()
                .map(|(k, v)| (Key::String(Arc::new(k)), to_cel(v)))
                .collect();
            Value::Map(Map { map: Arc::new(map) })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compiles(e: &str) -> Result<(), String> {
        CelProgram::compile(e)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// Upstream's TestNewCELProgram, plus the refusals cel-go's checker makes.
    #[test]
    fn compile_like_cel_go() {
        assert!(compiles("body.foo == 'bar'").is_ok());
        assert_eq!(
            compiles("foo.bar").unwrap_err(),
            "ERROR: <input>:1:1: undeclared reference to 'foo' (in container '')"
        );
        assert!(compiles("")
            .unwrap_err()
            .starts_with("ERROR: <input>:1:1: Syntax error"));
        for ok in [
            "!has(body.foo)",
            "body.items.all(i, i.ok)",
            "body.items.exists(i, i.n > 3) && body.items.map(x, x.n).size() == 2",
            "type(body) == map && type(body.a) == list",
            "body.s.matches('^a') || timestamp(body.t) > timestamp('2020-01-01T00:00:00Z')",
            "[1, 2].filter(x, x > 1)[0] == 2",
            "body.a[0].b in ['x', 'y']",
        ] {
            assert!(compiles(ok).is_ok(), "{ok}: {:?}", compiles(ok));
        }
        for (bad, name, col) in [
            ("body.foo()", "foo", 9),
            ("x", "x", 1),
            ("body.items.all(i, i.ok) && i", "i", 28),
            ("max(1, 2)", "max", 4),
            ("body.s.lowerAscii()", "lowerAscii", 18),
            ("optional.of(1)", "optional", 1),
            ("Foo{a: 1}", "Foo", 4),
        ] {
            assert_eq!(
                compiles(bad).unwrap_err(),
                format!(
                    "ERROR: <input>:1:{col}: undeclared reference to '{name}' (in container '')"
                ),
                "{bad}"
            );
        }
        assert!(compiles("{'a': 1}.?a").is_err(), "no optional syntax");
    }

    async fn run(expr: &str, body: &str) -> Result<Value, String> {
        let p = CelProgram::compile(expr).map_err(|e| e.to_string())?;
        p.eval(Arc::new(parse_json(body.as_bytes())?)).await
    }

    #[tokio::test]
    async fn json_values_as_cel_go_sees_them() {
        assert_eq!(
            run("body.n == 5", r#"{"n": 5}"#).await,
            Ok(Value::Bool(true))
        );
        assert_eq!(
            run("body.n == 5.0", r#"{"n": 5}"#).await,
            Ok(Value::Bool(true))
        );
        assert_eq!(
            run("type(body.n) == double", r#"{"n": 5}"#).await,
            Ok(Value::Bool(true))
        );
        assert_eq!(
            run("body.n > 4", r#"{"n": 5}"#).await,
            Ok(Value::Bool(true))
        );
        assert_eq!(
            run("body.a == 2.0", r#"{"a": 1, "a": 2}"#).await,
            Ok(Value::Bool(true))
        );
        assert_eq!(run("body == null", "null").await, Ok(Value::Bool(true)));
        assert_eq!(
            run("body[1] == 'b'", r#"["a", "b"]"#).await,
            Ok(Value::Bool(true))
        );
        assert!(run("body.missing == 1", "{}").await.is_err());
        assert!(parse_json(b"").is_err());
        assert!(parse_json(b"hello world").is_err());
        assert!(parse_json(b"{} x").is_err());
        assert_eq!(
            parse_json(b"\"a\xffb\"").map(|v| v == Value::String(Arc::new("a\u{fffd}b".into()))),
            Ok(true)
        );
    }

    /// cel-go's timezone-aware accessors, whose zones come from jiff's bundled database
    /// (vendor/chrono-tz adapts it to the `cel` crate): standard and daylight time, a
    /// half-hour zone, a zone that moved its offset, a link name, a fixed `±HH:MM`, and
    /// the names Go's `time.LoadLocation` refuses on Linux (wrong case, unknown).
    #[tokio::test]
    async fn time_zone_accessors() {
        let at = |t: &str, call: &str| format!("timestamp('{t}').{call}");
        for (expr, want) in [
            (
                at("2024-07-01T12:00:00Z", "getHours('America/New_York')"),
                8,
            ),
            (
                at("2024-01-15T12:00:00Z", "getHours('America/New_York')"),
                7,
            ),
            (at("2024-07-01T12:00:00Z", "getHours('Europe/Berlin')"), 14),
            (at("2024-01-15T12:00:00Z", "getHours('Europe/Berlin')"), 13),
            (at("2024-01-15T12:00:00Z", "getMinutes('Asia/Kolkata')"), 30),
            (at("2024-01-15T12:00:00Z", "getHours('Asia/Kolkata')"), 17),
            (at("2024-01-15T12:00:00Z", "getHours('US/Eastern')"), 7),
            (at("2024-01-15T12:00:00Z", "getHours('UTC')"), 12),
            (at("2024-01-15T12:00:00Z", "getHours('')"), 12),
            (at("2024-01-15T12:00:00Z", "getHours('+05:45')"), 17),
            // Samoa skipped 2011-12-30: the 29th at 23:00 local is followed by the 31st.
            (at("2011-12-30T10:00:00Z", "getDate('Pacific/Apia')"), 31),
            (at("2011-12-29T09:00:00Z", "getDate('Pacific/Apia')"), 28),
            // Lord Howe Island's daylight time is half an hour.
            (
                at("2024-01-15T12:00:00Z", "getMinutes('Australia/Lord_Howe')"),
                0,
            ),
            (
                at("2024-07-15T12:00:00Z", "getMinutes('Australia/Lord_Howe')"),
                30,
            ),
            (
                at("2024-03-10T06:59:59Z", "getHours('America/New_York')"),
                1,
            ),
            (
                at("2024-03-10T07:00:00Z", "getHours('America/New_York')"),
                3,
            ),
        ] {
            assert_eq!(run(&expr, "{}").await, Ok(Value::Int(want)), "{expr}");
        }
        for bad in ["europe/berlin", "Mars/Olympus_Mons", "Local"] {
            let expr = at("2024-01-15T12:00:00Z", &format!("getHours('{bad}')"));
            let err = run(&expr, "{}").await.unwrap_err();
            assert!(err.contains("unknown time zone"), "{expr}: {err}");
        }
    }
}

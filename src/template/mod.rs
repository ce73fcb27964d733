//! Go text/template, the subset Prometheus rule files and Alertmanager templates use:
//! lexer ([`lex`]), parser ([`parse`]), executor ([`exec`]) over a dynamic value model
//! ([`value`]) with Go's `fmt` printing ([`printf`]), Go's builtins ([`funcs`]), Prometheus'
//! template functions ([`prom`]), Alertmanager's `KV`/`Pairs` and functions ([`am`]), Go's
//! `time.Time`/`time.Duration` and `time.Parse` ([`time`]), `json.Marshal` ([`json`]) and the
//! rule-facing API ([`rules`]).
//!
//! Strings are Go's byte strings carried in Rust strings (`base::gostr`): a raw byte that is
//! not UTF-8 is one reserved character, so `len`, `slice`, `index`, `printf "%x"`/`%q`,
//! `urlquery`, `js` and string literals' `\x` escapes see the bytes Go sees.
//!
//! Written here rather than taken from a crate: `gtmpl` 0.7.1 (2021) and `gotmpl` 0.6.1 have a
//! closed value model (no named types with methods taking arguments, which Alertmanager's
//! `.CommonLabels.Remove …` and `.StartsAt.Format …` need) and no typed map element zero
//! values for `missingkey=zero`.
//!
//! # Use
//! * Rules: [`rules::expand`] / [`rules::check`] (Prometheus semantics, cached parse).
//! * Anything else: build a [`Templates`] set, [`Templates::parse`] each source once with the
//!   [`FuncMap`]s it may call (parse rejects unknown functions, as Go does), then
//!   [`Templates::execute`] per render with the same maps (earlier maps win; Go's builtins
//!   are always there). Templates are `Send + Sync`. Functions that borrow from the caller
//!   for one render (a rule's `query`) come in through [`Templates::execute_with`], which
//!   takes any [`Funcs`].
//! * Data: [`Value`] for Go's basic kinds, `map[string]T` ([`Map`], whose `zero` is what a
//!   missing key gives under [`MissingKey::Zero`]) and slices; a Go named type (struct, or
//!   a map/slice type with methods) is an [`Object`]: fields and methods (with arguments)
//!   through [`Object::method`], its map/slice through [`Object::underlying`], `String()`
//!   through [`Object::string`].
//!
//! Errors carry Go's texts (`template: NAME:LINE: …` when parsing, `template:
//! NAME:LINE:COL: executing "NAME" at <node>: …` when executing); the table in
//! `tests/data/templates/prometheus.json` was produced by promtool and is checked by tests.

pub mod am;
pub mod ast;
pub mod exec;
pub mod funcs;
pub mod json;
pub mod lex;
pub mod parse;
pub mod printf;
pub mod prom;
pub mod rules;
pub mod time;
pub mod value;

pub use ast::ParseError;
pub use exec::{ExecError, MissingKey, Templates};
pub use funcs::{Func, FuncError, FuncMap, Funcs};
pub use value::{AnySlice, JsonRepr, Map, Object, Value};

#[cfg(test)]
mod tests;

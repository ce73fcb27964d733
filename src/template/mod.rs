//! Go text/template, the subset Prometheus rule files and Alertmanager templates use:
//! lexer ([`lex`]), parser ([`parse`]), executor ([`exec`]) over a dynamic value model
//! ([`value`]) with Go's `fmt` printing ([`printf`]), Go's builtins ([`funcs`]), Prometheus'
//! template functions ([`prom`]) and the rule-facing API ([`rules`]).
//!
//! Written here rather than taken from a crate: `gtmpl` 0.7.1 (2021) and `gotmpl` 0.6.1 have a
//! closed value model (no named types with methods taking arguments, which Alertmanager's
//! `.CommonLabels.Remove …` and `.StartsAt.Format …` need) and no typed map element zero
//! values for `missingkey=zero`.

pub mod am;
pub mod exec;
pub mod funcs;
pub mod lex;
pub mod parse;
pub mod printf;
pub mod prom;
pub mod rules;
pub mod time;
pub mod value;

pub use exec::{ExecError, MissingKey, Templates};
pub use funcs::{Func, FuncError, FuncMap};
pub use parse::ParseError;
pub use value::{Map, Object, Value};

#[cfg(test)]
mod tests;

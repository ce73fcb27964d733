//! The PromQL subset rules may use: parsed with promql-parser, checked against the subset at
//! load, evaluated over anything that implements `Queryable` (the probe store, or the
//! in-memory series of a rule unit test).

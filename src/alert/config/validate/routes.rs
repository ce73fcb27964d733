//! The `route:` tree (matchers, grouping, timing, time intervals) and `inhibit_rules:`.

use super::*;

/// `match` + `match_re` + `matchers` of a route or one side of an inhibit rule, sorted.
fn matcher_set(
    cx: &mut Cx,
    p: &str,
    (match_key, match_): (&str, &BTreeMap<String, Spanned<String>>),
    (match_re_key, match_re): (&str, &BTreeMap<String, Spanned<String>>),
    (matchers_key, matchers): (&str, &[Spanned<String>]),
) -> Matchers {
    let mut out = Vec::new();
    for (name, v) in match_ {
        if !is_valid_label_name(name) {
            cx.err(
                &v.referenced,
                &format!("{p}.{match_key}"),
                format!("invalid label name {name:?}"),
            );
            continue;
        }
        if let Ok(m) = Matcher::new(name, MatchOp::Equal, &v.value) {
            out.push(m);
        }
    }
    for (name, v) in match_re {
        if !is_valid_label_name(name) {
            cx.err(
                &v.referenced,
                &format!("{p}.{match_re_key}"),
                format!("invalid label name {name:?}"),
            );
            continue;
        }
        // Upstream keeps the anchored form of `match_re` values, which route keys show.
        match Matcher::new(name, MatchOp::Regex, format!("^(?:{})$", v.value)) {
            Ok(m) => out.push(m),
            Err(e) => cx.err(&v.referenced, &format!("{p}.{match_re_key}.{name}"), e.0),
        }
    }
    for (i, line) in matchers.iter().enumerate() {
        match parse_matchers(&line.value) {
            Ok(ms) => out.extend(ms),
            Err(e) => cx.err(&line.referenced, &format!("{p}.{matchers_key}[{i}]"), e.0),
        }
    }
    Matchers(out).sorted()
}

#[allow(clippy::too_many_arguments)]
pub(super) fn route(
    cx: &mut Cx,
    node: &Spanned<RawRoute>,
    p: &str,
    parent: Option<(&RouteOpts, &str, &str)>,
    receivers: &BTreeSet<String>,
    intervals: &BTreeMap<String, TimeInterval>,
    index: &mut usize,
    sibling_index: usize,
) -> Route {
    let r = &node.value;
    let matchers = matcher_set(
        cx,
        p,
        ("match", &r.match_),
        ("match_re", &r.match_re),
        ("matchers", &r.matchers),
    );
    cx.unsupported(&r.labels, &format!("{p}.labels"), "`labels` on routes");

    let mut opts = parent.map_or_else(RouteOpts::default, |(o, _, _)| o.clone());
    if let Some(rcv) = &r.receiver {
        if !rcv.value.is_empty() {
            if !receivers.contains(&rcv.value) {
                cx.err(
                    &rcv.referenced,
                    &format!("{p}.receiver"),
                    format!("undefined receiver {:?} used in route", rcv.value),
                );
            }
            opts.receiver = rcv.value.clone();
        }
    }
    group_by(cx, p, r, &mut opts);
    timing(cx, p, r, &mut opts);
    time_interval_refs(cx, p, r, intervals, &mut opts);

    let key = match parent {
        None => matchers.to_string(),
        Some((_, parent_key, _)) => format!("{parent_key}/{matchers}"),
    };
    let id = match parent {
        None => matchers.to_string(),
        Some((_, _, parent_id)) => format!("{parent_id}/{matchers}/{sibling_index}"),
    };
    let my_index = *index;
    *index += 1;
    let mut routes = Vec::new();
    for (i, child) in r.routes.iter().enumerate() {
        routes.push(route(
            cx,
            child,
            &format!("{p}.routes[{i}]"),
            Some((&opts, &key, &id)),
            receivers,
            intervals,
            index,
            i,
        ));
    }
    Route {
        matchers,
        continue_: r.continue_,
        opts,
        routes,
        key,
        id,
        index: my_index,
    }
}

/// `group_by`: label names (or `...` for all), replacing the inherited list.
fn group_by(cx: &mut Cx, p: &str, r: &RawRoute, opts: &mut RouteOpts) {
    if let Some(gb) = &r.group_by {
        let mut names = BTreeSet::new();
        let mut all = false;
        for (i, l) in gb.value.iter().enumerate() {
            if l.value == "..." {
                all = true;
            } else if !is_valid_label_name(&l.value) {
                cx.err(
                    &l.referenced,
                    &format!("{p}.group_by[{i}]"),
                    format!("invalid label name {:?} in group_by list", l.value),
                );
            } else if !names.insert(l.value.clone()) {
                cx.err(
                    &l.referenced,
                    &format!("{p}.group_by[{i}]"),
                    format!("duplicated label {:?} in group_by", l.value),
                );
            }
        }
        if all && !names.is_empty() {
            // Upstream 0.25 wording (newer releases fixed the doubled "other").
            cx.err(
                &gb.referenced,
                &format!("{p}.group_by"),
                "cannot have wildcard group_by (`...`) and other other labels at the same time",
            );
        }
        if all {
            opts.group_by_all = true;
        } else {
            // An explicit list, even `[]`, replaces the inherited one (upstream main).
            opts.group_by = names;
            opts.group_by_all = false;
        }
    }
}

/// `group_wait`, `group_interval`, `repeat_interval` (neither of the last two zero) and
/// blackwatch's `flush_on_resolve`, each inherited when absent.
fn timing(cx: &mut Cx, p: &str, r: &RawRoute, opts: &mut RouteOpts) {
    if let Some(d) = &r.group_wait {
        opts.group_wait = d.value.0;
    }
    if let Some(d) = &r.group_interval {
        if d.value.0.is_zero() {
            cx.err(
                &d.referenced,
                &format!("{p}.group_interval"),
                "group_interval cannot be zero",
            );
        }
        opts.group_interval = d.value.0;
    }
    if let Some(d) = &r.repeat_interval {
        if d.value.0.is_zero() {
            cx.err(
                &d.referenced,
                &format!("{p}.repeat_interval"),
                "repeat_interval cannot be zero",
            );
        }
        opts.repeat_interval = d.value.0;
    }
    if let Some(f) = r.flush_on_resolve {
        opts.flush_on_resolve = f;
    }
}

/// `mute_time_intervals` and `active_time_intervals`: names that must be defined.
fn time_interval_refs(
    cx: &mut Cx,
    p: &str,
    r: &RawRoute,
    intervals: &BTreeMap<String, TimeInterval>,
    opts: &mut RouteOpts,
) {
    for (key, list, target) in [
        (
            "mute_time_intervals",
            &r.mute_time_intervals,
            &mut opts.mute_time_intervals,
        ),
        (
            "active_time_intervals",
            &r.active_time_intervals,
            &mut opts.active_time_intervals,
        ),
    ] {
        target.clear();
        for (i, name) in list.iter().enumerate() {
            if !intervals.contains_key(&name.value) {
                cx.err(
                    &name.referenced,
                    &format!("{p}.{key}[{i}]"),
                    format!("undefined time interval {:?} used in route", name.value),
                );
            }
            target.push(name.value.clone());
        }
    }
}

pub(super) fn inhibit_rule(cx: &mut Cx, p: &str, r: &RawInhibitRule) -> InhibitRule {
    let source = matcher_set(
        cx,
        p,
        ("source_match", &r.source_match),
        ("source_match_re", &r.source_match_re),
        ("source_matchers", &r.source_matchers),
    );
    let target = matcher_set(
        cx,
        p,
        ("target_match", &r.target_match),
        ("target_match_re", &r.target_match_re),
        ("target_matchers", &r.target_matchers),
    );
    let mut equal = Vec::new();
    for (i, l) in r.equal.iter().enumerate() {
        if !is_valid_label_name(&l.value) {
            cx.err(
                &l.referenced,
                &format!("{p}.equal[{i}]"),
                format!("{:?} is not a valid label name", l.value),
            );
        }
        equal.push(l.value.clone());
    }
    InhibitRule {
        name: r.name.clone(),
        source,
        target,
        equal,
    }
}

//! `time_intervals:` / `mute_time_intervals:`: times, weekdays, days of month, months,
//! years and location.

use super::*;

pub(super) fn time_intervals(
    cx: &mut Cx,
    raw: &RawAlertingConfig,
) -> BTreeMap<String, TimeInterval> {
    let mut out = BTreeMap::new();
    let lists = [
        (
            "mute_time_intervals",
            &raw.mute_time_intervals,
            "mute time interval",
        ),
        ("time_intervals", &raw.time_intervals, "time interval"),
    ];
    for (key, list, what) in lists {
        for (i, set) in list.iter().enumerate() {
            let p = format!("{key}[{i}]");
            let name = &set.value.name;
            if name.value.is_empty() {
                cx.err(&set.referenced, &p, format!("missing name in {what}"));
                continue;
            }
            let mut specs = Vec::new();
            for (j, spec) in set.value.time_intervals.iter().enumerate() {
                specs.push(time_interval_spec(
                    cx,
                    &format!("{p}.time_intervals[{j}]"),
                    &spec.value,
                ));
            }
            if out.contains_key(&name.value) {
                cx.err(
                    &name.referenced,
                    &format!("{p}.name"),
                    format!("{what} {:?} is not unique", name.value),
                );
                continue;
            }
            out.insert(
                name.value.clone(),
                TimeInterval {
                    name: name.value.clone(),
                    specs,
                },
            );
        }
    }
    out
}

fn time_interval_spec(cx: &mut Cx, p: &str, s: &RawTimeIntervalSpec) -> TimeIntervalSpec {
    fn ranges(
        cx: &mut Cx,
        p: &str,
        field: &str,
        list: &Option<Vec<Spanned<String>>>,
        parse: fn(&str) -> Result<timeinterval::InclusiveRange, String>,
    ) -> Option<Vec<timeinterval::InclusiveRange>> {
        let list = list.as_ref()?;
        let mut out = Vec::new();
        for (i, item) in list.iter().enumerate() {
            match parse(&item.value) {
                Ok(r) => out.push(r),
                Err(m) => cx.err(&item.referenced, &format!("{p}.{field}[{i}]"), m),
            }
        }
        Some(out)
    }
    let times = s.times.as_ref().map(|list| {
        let mut out = Vec::new();
        for (i, t) in list.iter().enumerate() {
            match timeinterval::parse_time_range(&t.value.start_time, &t.value.end_time) {
                Ok(r) => out.push(r),
                Err(m) => cx.err(&t.referenced, &format!("{p}.times[{i}]"), m),
            }
        }
        out
    });
    let location = s
        .location
        .as_ref()
        .and_then(|l| match timeinterval::parse_location(&l.value) {
            Ok(tz) => Some(tz),
            Err(m) => {
                cx.err(&l.referenced, &format!("{p}.location"), m);
                None
            }
        });
    TimeIntervalSpec {
        times,
        weekdays: ranges(
            cx,
            p,
            "weekdays",
            &s.weekdays,
            timeinterval::parse_weekday_range,
        ),
        days_of_month: ranges(
            cx,
            p,
            "days_of_month",
            &s.days_of_month,
            timeinterval::parse_day_of_month_range,
        ),
        months: ranges(cx, p, "months", &s.months, timeinterval::parse_month_range),
        years: ranges(cx, p, "years", &s.years, timeinterval::parse_year_range),
        location,
    }
}

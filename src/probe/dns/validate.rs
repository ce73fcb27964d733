//! Checking an answer as upstream's `validRcode` and `validRRs` do: the rcode against
//! `valid_rcodes`, then each section's records (their miekg text) against that section's
//! regexes. It logs why a check failed; it writes no metrics.

use regex::bytes::Regex;

use super::codes::{rcode_code, rcode_name};
use super::message::{Response, Rr};
use super::ProbeCx;
use crate::probe::module::{DnsModule, RrValidator};

/// The rcode, then the answer, authority and additional sections, in upstream's order;
/// the first failure ends the checks.
pub(super) fn response(response: &Response, m: &DnsModule, cx: &mut ProbeCx) -> bool {
    if !valid_rcode(response.rcode, m.valid_rcodes.as_deref(), cx) {
        return false;
    }
    cx.log.info("Validating Answer RRs", &[]);
    if !valid_rrs(&response.answer, &m.validate_answer_rrs, cx) {
        cx.log.error("Answer RRs validation failed", &[]);
        return false;
    }
    cx.log.info("Validating Authority RRs", &[]);
    if !valid_rrs(&response.authority, &m.validate_authority_rrs, cx) {
        cx.log.error("Authority RRs validation failed", &[]);
        return false;
    }
    cx.log.info("Validating Additional RRs", &[]);
    if !valid_rrs(&response.additional, &m.validate_additional_rrs, cx) {
        cx.log.error("Additional RRs validation failed", &[]);
        return false;
    }
    true
}

/// `validRcode`: `None` means `[NOERROR]`; an unknown name fails the probe.
fn valid_rcode(rcode: u16, valid: Option<&[String]>, cx: &mut ProbeCx) -> bool {
    let codes: Vec<u16> = match valid {
        None => vec![0],
        Some(names) => {
            let mut codes = Vec::new();
            for name in names {
                match rcode_code(name) {
                    Some(c) => codes.push(c),
                    None => {
                        cx.log.error("Invalid rcode", &[("rcode", name)]);
                        return false;
                    }
                }
            }
            codes
        }
    };
    let name = rcode_name(rcode);
    if codes.contains(&rcode) {
        cx.log.info(
            "Rcode is valid",
            &[("rcode", &rcode.to_string()), ("string_rcode", &name)],
        );
        true
    } else {
        let valid: Vec<String> = codes.iter().map(u16::to_string).collect();
        cx.log.error(
            "Rcode is not one of the valid rcodes",
            &[
                ("rcode", &rcode.to_string()),
                ("string_rcode", &name),
                ("valid_rcodes", &format!("[{}]", valid.join(" "))),
            ],
        );
        false
    }
}

fn matches(re: &Regex, rr: &Rr) -> bool {
    re.is_match(rr.text.as_bytes())
}

/// `validRRs`, with upstream's real semantics (see the reference, §4.5).
fn valid_rrs(rrs: &[Rr], v: &RrValidator, cx: &mut ProbeCx) -> bool {
    if rrs.is_empty() && !v.fail_if_not_matches_regexp.is_empty() {
        cx.log.error(
            "fail_if_not_matches_regexp specified but no RRs returned",
            &[],
        );
        return false;
    }
    if rrs.is_empty() && !v.fail_if_none_matches_regexp.is_empty() {
        cx.log.error(
            "fail_if_none_matches_regexp specified but no RRs returned",
            &[],
        );
        return false;
    }
    let mut any_match = false;
    let mut all_match = true;
    for rr in rrs {
        cx.log.info("Validating RR", &[("rr", &rr.text)]);
        for re in &v.fail_if_matches_regexp {
            if matches(re, rr) {
                cx.log.error(
                    "At least one RR matched regexp",
                    &[("regexp", re.as_str()), ("rr", &rr.text)],
                );
                return false;
            }
        }
        for re in &v.fail_if_all_match_regexp {
            if !matches(re, rr) {
                all_match = false;
            }
        }
        for re in &v.fail_if_not_matches_regexp {
            if !matches(re, rr) {
                cx.log.error(
                    "At least one RR did not match regexp",
                    &[("regexp", re.as_str()), ("rr", &rr.text)],
                );
                return false;
            }
        }
        for re in &v.fail_if_none_matches_regexp {
            if matches(re, rr) {
                any_match = true;
            }
        }
    }
    if !v.fail_if_all_match_regexp.is_empty() && !all_match {
        cx.log.error("Not all RRs matched regexp", &[]);
        return false;
    }
    if !v.fail_if_none_matches_regexp.is_empty() && !any_match {
        cx.log.error("None of the RRs did matched any regexp", &[]);
        return false;
    }
    true
}

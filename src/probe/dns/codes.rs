//! miekg/dns's name tables: the type, class and rcode mnemonics `query_type`, `query_class`
//! and `valid_rcodes` accept, and the names records and rcodes are printed with. Pure
//! lookups; the wire format and the record text are `wire`, `message` and `render`.

/// The SOA type: its answer carries the serial `probe_dns_serial` reports.
pub(super) const TYPE_SOA: u16 = 6;
/// The OPT pseudo-type: EDNS, printed as a pseudo-section, carrying the extended rcode.
pub(super) const TYPE_OPT: u16 = 41;

/// miekg/dns `TypeToString`: every type name `query_type` accepts, and the mnemonic printed
/// for a record of that type.
pub const TYPES: &[(&str, u16)] = &[
    ("None", 0),
    ("A", 1),
    ("NS", 2),
    ("MD", 3),
    ("MF", 4),
    ("CNAME", 5),
    ("SOA", 6),
    ("MB", 7),
    ("MG", 8),
    ("MR", 9),
    ("NULL", 10),
    ("PTR", 12),
    ("HINFO", 13),
    ("MINFO", 14),
    ("MX", 15),
    ("TXT", 16),
    ("RP", 17),
    ("AFSDB", 18),
    ("X25", 19),
    ("ISDN", 20),
    ("RT", 21),
    ("NSAP-PTR", 23),
    ("SIG", 24),
    ("KEY", 25),
    ("PX", 26),
    ("GPOS", 27),
    ("AAAA", 28),
    ("LOC", 29),
    ("NXT", 30),
    ("EID", 31),
    ("NIMLOC", 32),
    ("SRV", 33),
    ("ATMA", 34),
    ("NAPTR", 35),
    ("KX", 36),
    ("CERT", 37),
    ("DNAME", 39),
    ("OPT", 41),
    ("APL", 42),
    ("DS", 43),
    ("SSHFP", 44),
    ("IPSECKEY", 45),
    ("RRSIG", 46),
    ("NSEC", 47),
    ("DNSKEY", 48),
    ("DHCID", 49),
    ("NSEC3", 50),
    ("NSEC3PARAM", 51),
    ("TLSA", 52),
    ("SMIMEA", 53),
    ("HIP", 55),
    ("NINFO", 56),
    ("RKEY", 57),
    ("TALINK", 58),
    ("CDS", 59),
    ("CDNSKEY", 60),
    ("OPENPGPKEY", 61),
    ("CSYNC", 62),
    ("ZONEMD", 63),
    ("SVCB", 64),
    ("HTTPS", 65),
    ("SPF", 99),
    ("UINFO", 100),
    ("UID", 101),
    ("GID", 102),
    ("UNSPEC", 103),
    ("NID", 104),
    ("L32", 105),
    ("L64", 106),
    ("LP", 107),
    ("EUI48", 108),
    ("EUI64", 109),
    ("URI", 256),
    ("CAA", 257),
    ("AVC", 258),
    ("AMTRELAY", 260),
    ("TKEY", 249),
    ("TSIG", 250),
    ("IXFR", 251),
    ("AXFR", 252),
    ("MAILB", 253),
    ("MAILA", 254),
    ("ANY", 255),
    ("TA", 32768),
    ("DLV", 32769),
    ("Reserved", 65535),
];

/// miekg/dns `ClassToString`.
pub const CLASSES: &[(&str, u16)] = &[
    ("IN", 1),
    ("CS", 2),
    ("CH", 3),
    ("HS", 4),
    ("NONE", 254),
    ("ANY", 255),
];

/// miekg/dns `StringToRcode`.
pub const RCODES: &[(&str, u16)] = &[
    ("NOERROR", 0),
    ("FORMERR", 1),
    ("SERVFAIL", 2),
    ("NXDOMAIN", 3),
    ("NOTIMP", 4),
    ("REFUSED", 5),
    ("YXDOMAIN", 6),
    ("YXRRSET", 7),
    ("NXRRSET", 8),
    ("NOTAUTH", 9),
    ("NOTZONE", 10),
    ("BADSIG", 16),
    ("BADVERS", 16),
    ("BADKEY", 17),
    ("BADTIME", 18),
    ("BADMODE", 19),
    ("BADNAME", 20),
    ("BADALG", 21),
    ("BADTRUNC", 22),
    ("BADCOOKIE", 23),
];

/// The type code of a miekg type name (`query_type`), case-sensitive as upstream.
pub fn type_code(name: &str) -> Option<u16> {
    TYPES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The class code of a miekg class name (`query_class`).
pub fn class_code(name: &str) -> Option<u16> {
    CLASSES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// The rcode of a miekg rcode name (`valid_rcodes`).
pub fn rcode_code(name: &str) -> Option<u16> {
    RCODES.iter().find(|(n, _)| *n == name).map(|(_, c)| *c)
}

/// miekg `RcodeToString`: the name of an rcode, or its number when it has none.
pub(super) fn rcode_name(code: u16) -> String {
    match RCODES.iter().find(|(_, c)| *c == code) {
        Some((n, _)) => (*n).to_string(),
        None => code.to_string(),
    }
}

/// miekg `Type(t).String()`.
pub(super) fn type_name(t: u16) -> String {
    match TYPES.iter().find(|(_, c)| *c == t) {
        Some((n, _)) => (*n).to_string(),
        None => format!("TYPE{t}"),
    }
}

/// miekg `Class(c).String()`: a mnemonic only when it is not also a type name (so 255 is
/// `CLASS255`, not `ANY`).
pub(super) fn class_name(c: u16) -> String {
    match CLASSES.iter().find(|(_, code)| *code == c) {
        Some((n, _)) if type_code(n).is_none() => (*n).to_string(),
        _ => format!("CLASS{c}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_follow_miekg() {
        assert_eq!(type_code("A"), Some(1));
        assert_eq!(type_code("SPF"), Some(99));
        assert_eq!(type_code("a"), None);
        assert_eq!(type_code("*"), None);
        assert_eq!(class_code("CH"), Some(3));
        assert_eq!(rcode_code("BADVERS"), Some(16));
        assert_eq!(class_name(1), "IN");
        assert_eq!(class_name(255), "CLASS255");
        assert_eq!(type_name(65280), "TYPE65280");
    }
}

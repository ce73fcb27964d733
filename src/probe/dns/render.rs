//! Presentation: one record as miekg/dns `RR.String()` prints it, the text users' validator
//! regexes match. Every type miekg has a struct for and blackwatch renders has an arm in
//! [`render`] or the functions it calls; others print in the RFC 3597 `\# len hex` form.
//! Reading the bytes is `wire`; splitting a message into records is `message`.

use std::fmt::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr};

use super::codes::{class_name, type_name, TYPE_OPT};
use super::wire::{be32, txt_escape, Rdata};

/// The fixed part of a record, with the owner name already in presentation form.
pub struct RrHeader {
    pub name: String,
    pub rtype: u16,
    pub class: u16,
    pub ttl: u32,
}

impl RrHeader {
    /// miekg `RR_Header.String()`: `name\tttl\tclass\ttype\t`.
    pub(super) fn string(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}\t",
            self.name,
            self.ttl,
            class_name(self.class),
            type_name(self.rtype)
        )
    }

    /// miekg `rfc3597Header`: class and type always numeric.
    fn rfc3597(&self) -> String {
        format!(
            "{}\t{}\tCLASS{}\tTYPE{}\t",
            self.name, self.ttl, self.class, self.rtype
        )
    }
}

/// miekg `sprintTxt`: each string quoted, separated by spaces.
fn quoted(strings: &[String]) -> String {
    let quoted: Vec<String> = strings.iter().map(|s| format!("\"{s}\"")).collect();
    quoted.join(" ")
}

fn hex_lower(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

fn base64(bytes: &[u8]) -> String {
    base64::Engine::encode(&crate::base::go::BASE64_STD, bytes)
}

/// Go's `base32.HexEncoding` (upper case, padded), as miekg prints NSEC3 hashes.
fn base32hex(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHIJKLMNOPQRSTUV";
    let mut out = String::new();
    for chunk in bytes.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = buf.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for i in 0..8 {
            if i < chars {
                out.push(char::from(ALPHABET[((n >> (35 - 5 * i)) & 31) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// miekg `TimeToString` for times near now: `YYYYMMDDHHMMSS` in UTC.
fn rrsig_time(t: u32) -> String {
    let secs = i64::from(t);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}{:02}{:02}{:02}",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// miekg `sprintTxtOctet`: one quoted string, `\.` kept, other bytes TXT-escaped.
fn txt_octet(bytes: &[u8]) -> String {
    format!("\"{}\"", txt_escape(bytes))
}

/// The OPT pseudo-record as miekg prints it (`OPT.String()`), header omitted.
fn render_opt(h: &RrHeader, rd: &mut Rdata<'_>) -> Result<String, String> {
    let version = (h.ttl >> 16) & 0xFF;
    let mut s = format!("\n;; OPT PSEUDOSECTION:\n; EDNS: version {version}; ");
    if h.ttl & 0x8000 != 0 {
        s.push_str("flags: do; ");
    } else {
        s.push_str("flags: ; ");
    }
    if h.ttl & 0x7FFF != 0 {
        let _ = write!(s, "MBZ: 0x{:04x}, ", h.ttl & 0x7FFF);
    }
    let _ = write!(s, "udp: {}", h.class);
    while rd.off < rd.end {
        let code = rd.u16()?;
        let len = usize::from(rd.u16()?);
        let data = rd.bytes(len)?;
        match code {
            3 => {
                let _ = write!(s, "\n; NSID: {}", hex_lower(data));
                let chars: String = data
                    .iter()
                    .map(|b| format!("({})", char::from(*b)))
                    .collect();
                let _ = write!(s, "  {chars}");
            }
            10 => {
                let _ = write!(s, "\n; COOKIE: {}", hex_lower(data));
            }
            12 => {
                let _ = write!(s, "\n; PADDING: {}", hex_lower(data));
            }
            9 if data.len() == 4 => {
                let _ = write!(s, "\n; EXPIRE: {}", be32(data, 0)?);
            }
            _ => {
                let _ = write!(s, "\n; LOCAL OPT: {code}:0x{}", hex_lower(data));
            }
        }
    }
    Ok(s)
}

/// miekg's `String()` of one record whose rdata is `msg[start..end]`, and the serial of an SOA.
///
/// Every type miekg knows and blackwatch renders is listed in this match, in
/// [`common_rdata`] or in [`dnssec_rdata`]; any other type is printed as miekg prints types it
/// has no struct for (RFC 3597).
pub fn render(
    msg: &[u8],
    start: usize,
    end: usize,
    h: &RrHeader,
) -> Result<(String, Option<u32>), String> {
    let mut rd = Rdata {
        msg,
        off: start,
        end,
    };
    let hdr = h.string();
    if h.rtype == TYPE_OPT {
        return Ok((render_opt(h, &mut rd)?, None));
    }
    if start == end && known_type(h.rtype) {
        // miekg leaves a typed record with empty rdata at its zero value; A and AAAA then
        // print the header alone (the commonest case: dynamic-update style empty records).
        return Ok((hdr, None));
    }
    let mut serial = None;
    let body = match h.rtype {
        6 => {
            let ns = rd.name()?;
            let mbox = rd.name()?;
            let (s, refresh, retry, expire, min) =
                (rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?, rd.u32()?);
            serial = Some(s);
            format!("{ns} {mbox} {s} {refresh} {retry} {expire} {min}")
        }
        10 => {
            // NULL: no presentation format; miekg comments the line out.
            let data = rd.rest();
            return Ok((format!(";{hdr}{}", String::from_utf8_lossy(data)), None));
        }
        255 => {
            // ANY: miekg comments it out.
            return Ok((format!(";{hdr}"), None));
        }
        t => match common_rdata(t, &mut rd)? {
            Some(body) => body,
            None => {
                let data = rd.rest();
                return Ok((
                    format!("{}\\# {} {}", h.rfc3597(), data.len(), hex_lower(data)),
                    None,
                ));
            }
        },
    };
    if rd.off != rd.end {
        return Err("dns: bad rdlength".to_string());
    }
    Ok((format!("{hdr}{body}"), serial))
}

/// The rdata text of the types miekg prints in their own syntax, other than SOA, NULL, ANY
/// and the DNSSEC types (those last are [`dnssec_rdata`]'s); `None` for a type without a
/// presentation here, which [`render`] prints in the RFC 3597 form.
fn common_rdata(rtype: u16, rd: &mut Rdata<'_>) -> Result<Option<String>, String> {
    let body = match rtype {
        1 => {
            let b = rd.bytes(4)?;
            Ipv4Addr::new(b[0], b[1], b[2], b[3]).to_string()
        }
        28 => {
            let b: [u8; 16] = rd.bytes(16)?.try_into().map_err(|_| "dns: bad AAAA")?;
            let ip = Ipv6Addr::from(b);
            match ip.to_ipv4_mapped() {
                Some(v4) => format!("::ffff:{v4}"),
                None => ip.to_string(),
            }
        }
        2 | 3 | 4 | 5 | 7 | 8 | 9 | 12 | 39 => rd.name()?,
        13 => {
            let cpu = rd.string()?;
            let os = rd.string()?;
            quoted(&[cpu, os])
        }
        14 | 17 => {
            let a = rd.name()?;
            let b = rd.name()?;
            format!("{a} {b}")
        }
        15 | 18 | 21 | 36 => {
            let pref = rd.u16()?;
            format!("{pref} {}", rd.name()?)
        }
        16 | 99 | 258 => quoted(&rd.strings()?),
        19 => rd.string()?,
        26 => {
            let pref = rd.u16()?;
            let a = rd.name()?;
            let b = rd.name()?;
            format!("{pref} {a} {b}")
        }
        33 => {
            let (prio, weight, port) = (rd.u16()?, rd.u16()?, rd.u16()?);
            format!("{prio} {weight} {port} {}", rd.name()?)
        }
        35 => {
            let (order, pref) = (rd.u16()?, rd.u16()?);
            let flags = rd.string()?;
            let service = rd.string()?;
            let regexp = rd.string()?;
            let replacement = rd.name()?;
            format!("{order} {pref} \"{flags}\" \"{service}\" \"{regexp}\" {replacement}")
        }
        49 | 61 => base64(rd.rest()),
        108 | 109 => {
            let n = if rtype == 108 { 6 } else { 8 };
            let b = rd.bytes(n)?;
            let parts: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
            parts.join("-")
        }
        256 => {
            let (prio, weight) = (rd.u16()?, rd.u16()?);
            format!("{prio} {weight} {}", txt_octet(rd.rest()))
        }
        257 => {
            let flag = rd.u8()?;
            let tag = rd.string()?;
            format!("{flag} {tag} {}", txt_octet(rd.rest()))
        }
        _ => return dnssec_rdata(rtype, rd),
    };
    Ok(Some(body))
}

/// The rdata text of the DNSSEC types (DS, CDS, TA, DLV, SSHFP, SIG, RRSIG, NSEC, KEY,
/// DNSKEY, CDNSKEY, NSEC3, NSEC3PARAM, TLSA, SMIMEA); `None` for any other type.
fn dnssec_rdata(rtype: u16, rd: &mut Rdata<'_>) -> Result<Option<String>, String> {
    let body = match rtype {
        43 | 59 | 32768 | 32769 => {
            let (tag, alg, dt) = (rd.u16()?, rd.u8()?, rd.u8()?);
            format!("{tag} {alg} {dt} {}", hex_lower(rd.rest()).to_uppercase())
        }
        44 => {
            let (alg, t) = (rd.u8()?, rd.u8()?);
            format!("{alg} {t} {}", hex_lower(rd.rest()).to_uppercase())
        }
        24 | 46 => {
            let covered = rd.u16()?;
            let (alg, labels) = (rd.u8()?, rd.u8()?);
            let orig_ttl = rd.u32()?;
            let (expiration, inception) = (rd.u32()?, rd.u32()?);
            let tag = rd.u16()?;
            let signer = rd.name()?;
            let sig = base64(rd.rest());
            format!(
                "{} {alg} {labels} {orig_ttl} {} {} {tag} {signer} {sig}",
                type_name(covered),
                rrsig_time(expiration),
                rrsig_time(inception)
            )
        }
        47 => {
            let next = rd.name()?;
            let mut s = next;
            for t in rd.type_bitmap()? {
                s.push(' ');
                s.push_str(&type_name(t));
            }
            s
        }
        25 | 48 | 60 => {
            let (flags, proto, alg) = (rd.u16()?, rd.u8()?, rd.u8()?);
            format!("{flags} {proto} {alg} {}", base64(rd.rest()))
        }
        50 | 51 => {
            let (hash, flags, iterations) = (rd.u8()?, rd.u8()?, rd.u16()?);
            let salt_len = usize::from(rd.u8()?);
            let salt = rd.bytes(salt_len)?;
            let salt = if salt.is_empty() {
                "-".to_string()
            } else {
                hex_lower(salt).to_uppercase()
            };
            let mut s = format!("{hash} {flags} {iterations} {salt}");
            if rtype == 50 {
                let hash_len = usize::from(rd.u8()?);
                let next = base32hex(rd.bytes(hash_len)?);
                let _ = write!(s, " {next}");
                for t in rd.type_bitmap()? {
                    s.push(' ');
                    s.push_str(&type_name(t));
                }
            }
            s
        }
        52 | 53 => {
            let (usage, selector, mtype) = (rd.u8()?, rd.u8()?, rd.u8()?);
            format!("{usage} {selector} {mtype} {}", hex_lower(rd.rest()))
        }
        _ => return Ok(None),
    };
    Ok(Some(body))
}

/// Types [`render`] prints in miekg's typed form.
fn known_type(t: u16) -> bool {
    const TYPED: &[u16] = &[
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 13, 14, 15, 16, 17, 18, 19, 21, 24, 25, 26, 28, 33, 35,
        36, 39, 43, 44, 46, 47, 48, 49, 50, 51, 52, 53, 59, 60, 61, 99, 108, 109, 255, 256, 257,
        258, 32768, 32769,
    ];
    TYPED.contains(&t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::dns::message::build::{cat, name, one_record};
    use crate::probe::dns::message::parse_response;

    fn text(rtype: u16, class: u16, rdata: &[u8]) -> String {
        let r = parse_response(&one_record(rtype, class, rdata)).expect("parses");
        assert_eq!(r.answer.len(), 1);
        r.answer[0].text.clone()
    }

    /// One table for every rendered type, so each type's expected text reads next to the
    /// others; it is longer than a function should be for that reason.
    #[test]
    fn renders_records_as_miekg_prints_them() {
        let p = "example.com.\t3600\tIN\t";
        let soa = cat(&[
            &name("ns.example.com"),
            &name("admin.example.com"),
            &1000u32.to_be_bytes(),
            &3600u32.to_be_bytes(),
            &600u32.to_be_bytes(),
            &86400u32.to_be_bytes(),
            &300u32.to_be_bytes(),
        ]);
        let rrsig = cat(&[
            &1u16.to_be_bytes(),
            &[8, 2],
            &3600u32.to_be_bytes(),
            &1_700_000_000u32.to_be_bytes(),
            &1_600_000_000u32.to_be_bytes(),
            &12345u16.to_be_bytes(),
            &name("example.com"),
            &[1, 2, 3, 4],
        ]);
        let cases: Vec<(u16, u16, Vec<u8>, String)> = vec![
            (1, 1, vec![127, 0, 0, 1], format!("{p}A\t127.0.0.1")),
            (28, 1, Ipv6Addr::LOCALHOST.octets().to_vec(), format!("{p}AAAA\t::1")),
            (
                28,
                1,
                "2001:db8:0:1:0:0:0:1".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                format!("{p}AAAA\t2001:db8:0:1::1"),
            ),
            (
                28,
                1,
                "::ffff:1.2.3.4".parse::<Ipv6Addr>().unwrap().octets().to_vec(),
                format!("{p}AAAA\t::ffff:1.2.3.4"),
            ),
            (2, 1, name("ns1.example.com"), format!("{p}NS\tns1.example.com.")),
            (5, 1, vec![0xC0, 12], format!("{p}CNAME\texample.com.")),
            (12, 1, name("host.example.com"), format!("{p}PTR\thost.example.com.")),
            (
                15,
                1,
                cat(&[&10u16.to_be_bytes(), &name("mx.example.com")]),
                format!("{p}MX\t10 mx.example.com."),
            ),
            (
                16,
                1,
                b"\x0bv=spf1 -all".to_vec(),
                format!("{p}TXT\t\"v=spf1 -all\""),
            ),
            (
                16,
                1,
                b"\x03a\"b\x02c\\\x02\x01\xff\x00".to_vec(),
                format!("{p}TXT\t\"a\\\"b\" \"c\\\\\" \"\\001\\255\" \"\""),
            ),
            (
                6,
                1,
                soa,
                format!("{p}SOA\tns.example.com. admin.example.com. 1000 3600 600 86400 300"),
            ),
            (
                33,
                1,
                cat(&[
                    &1u16.to_be_bytes(),
                    &5u16.to_be_bytes(),
                    &5060u16.to_be_bytes(),
                    &name("sip.example.com"),
                ]),
                format!("{p}SRV\t1 5 5060 sip.example.com."),
            ),
            (
                257,
                1,
                b"\x00\x05issueletsencrypt.org".to_vec(),
                format!("{p}CAA\t0 issue \"letsencrypt.org\""),
            ),
            (
                43,
                1,
                cat(&[&12345u16.to_be_bytes(), &[8, 2], &[0xab, 0xcd, 0xef]]),
                format!("{p}DS\t12345 8 2 ABCDEF"),
            ),
            (
                48,
                1,
                cat(&[&257u16.to_be_bytes(), &[3, 8], b"hello"]),
                format!("{p}DNSKEY\t257 3 8 aGVsbG8="),
            ),
            (
                46,
                1,
                rrsig,
                format!("{p}RRSIG\tA 8 2 3600 20231114221320 20200913122640 12345 example.com. AQIDBA=="),
            ),
            (
                47,
                1,
                cat(&[&name("b.example.com"), &[0, 4, 0x62, 0x01, 0x80, 0x08]]),
                format!("{p}NSEC\tb.example.com. A NS SOA MX TXT AAAA"),
            ),
            (
                13,
                1,
                b"\x03x86\x05linux".to_vec(),
                format!("{p}HINFO\t\"x86\" \"linux\""),
            ),
            (
                44,
                1,
                vec![1, 1, 0xde, 0xad],
                format!("{p}SSHFP\t1 1 DEAD"),
            ),
            (
                52,
                1,
                vec![3, 1, 1, 0xde, 0xad],
                format!("{p}TLSA\t3 1 1 dead"),
            ),
            (
                35,
                1,
                cat(&[
                    &100u16.to_be_bytes(),
                    &10u16.to_be_bytes(),
                    b"\x01S\x07SIP+D2U\x00",
                    &name("_sip._udp.example.com"),
                ]),
                format!("{p}NAPTR\t100 10 \"S\" \"SIP+D2U\" \"\" _sip._udp.example.com."),
            ),
            (
                256,
                1,
                cat(&[&10u16.to_be_bytes(), &1u16.to_be_bytes(), b"https://example.com/"]),
                format!("{p}URI\t10 1 \"https://example.com/\""),
            ),
            (
                39,
                1,
                name("example.net"),
                format!("{p}DNAME\texample.net."),
            ),
            // TXT in class CH (the version.bind style query).
            (
                16,
                3,
                b"\x051.2.3".to_vec(),
                "example.com.\t3600\tCH\tTXT\t\"1.2.3\"".to_string(),
            ),
            // Class 255 is also a type name, so miekg prints it numerically.
            (1, 255, vec![1, 2, 3, 4], "example.com.\t3600\tCLASS255\tA\t1.2.3.4".to_string()),
            (1, 254, vec![1, 2, 3, 4], "example.com.\t3600\tNONE\tA\t1.2.3.4".to_string()),
            // Types miekg has no struct for: RFC 3597, class and type numeric.
            (
                65280,
                1,
                vec![0xde, 0xad, 0xbe, 0xef],
                "example.com.\t3600\tCLASS1\tTYPE65280\t\\# 4 deadbeef".to_string(),
            ),
            (
                65280,
                1,
                vec![],
                "example.com.\t3600\tCLASS1\tTYPE65280\t\\# 0 ".to_string(),
            ),
            (1, 1, vec![], format!("{p}A\t")),
        ];
        for (rtype, class, rdata, want) in cases {
            assert_eq!(
                text(rtype, class, &rdata),
                want,
                "type {rtype} class {class}"
            );
        }
    }

    #[test]
    fn renders_opt() {
        // OPT, udp 1232, DO set, with a cookie and an unknown option.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0];
        m.extend_from_slice(&41u16.to_be_bytes());
        m.extend_from_slice(&1232u16.to_be_bytes());
        m.extend_from_slice(&0x0000_8000u32.to_be_bytes());
        let opts = cat(&[
            &10u16.to_be_bytes(),
            &2u16.to_be_bytes(),
            &[0xab, 0xcd],
            &65001u16.to_be_bytes(),
            &1u16.to_be_bytes(),
            &[0x01],
        ]);
        m.extend_from_slice(&(opts.len() as u16).to_be_bytes());
        m.extend_from_slice(&opts);
        let r = parse_response(&m).expect("parses");
        assert_eq!(
            r.additional[0].text,
            "\n;; OPT PSEUDOSECTION:\n; EDNS: version 0; flags: do; udp: 1232\n; COOKIE: abcd\n; LOCAL OPT: 65001:0x01"
        );
    }

    #[test]
    fn encodings_follow_go() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi"), "aGk=");
        assert_eq!(base32hex(&[0xff; 5]), "VVVVVVVV");
        assert_eq!(base32hex(&[0x00]), "00======");
        assert_eq!(rrsig_time(0), "19700101000000");
    }
}

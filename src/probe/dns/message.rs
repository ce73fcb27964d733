//! A whole DNS message as miekg/dns `Msg.Unpack` reads it: the header, the question skipped,
//! then each record of the answer, authority and additional sections rendered to its text
//! (any malformed record fails the message). What the prober keeps is [`Response`].

use super::codes::{rcode_name, TYPE_OPT};
use super::render::{render, RrHeader};
use super::wire::{be16, be32, unpack_name};

/// One resource record: its miekg `String()` text, plus the SOA serial when it is an SOA.
#[derive(Clone, Debug, PartialEq)]
pub struct Rr {
    pub text: String,
    pub soa_serial: Option<u32>,
}

/// What the prober needs from an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub id: u16,
    /// The header rcode, extended by the OPT record's upper bits when present (as miekg).
    pub rcode: u16,
    pub answer: Vec<Rr>,
    pub authority: Vec<Rr>,
    pub additional: Vec<Rr>,
}

impl Response {
    pub(super) fn summary(&self) -> String {
        let mut s = format!(
            "id={} rcode={} answer={} authority={} additional={}",
            self.id,
            rcode_name(self.rcode),
            self.answer.len(),
            self.authority.len(),
            self.additional.len()
        );
        for rr in self
            .answer
            .iter()
            .chain(&self.authority)
            .chain(&self.additional)
        {
            s.push('\n');
            s.push_str(&rr.text);
        }
        s
    }
}

/// Parses a whole DNS message (miekg `Msg.Unpack`): any malformed record is an error.
pub fn parse_response(msg: &[u8]) -> Result<Response, String> {
    if msg.len() < 12 {
        return Err("dns: short read".to_string());
    }
    let id = be16(msg, 0)?;
    let flags = be16(msg, 2)?;
    let counts = [be16(msg, 4)?, be16(msg, 6)?, be16(msg, 8)?, be16(msg, 10)?];
    let mut rcode = flags & 0xF;
    let mut off = 12;
    let mut sections: [Vec<Rr>; 3] = Default::default();
    // A bare header (what some servers send with REFUSED) is a valid, empty answer.
    if off < msg.len() {
        for _ in 0..counts[0] {
            let (_, next) = unpack_name(msg, off)?;
            off = next + 4;
            if off > msg.len() {
                return Err("dns: overflow unpacking question".to_string());
            }
        }
        let mut ext_rcode = None;
        for (i, (section, count)) in sections.iter_mut().zip(&counts[1..]).enumerate() {
            for _ in 0..*count {
                let (rr, next, ext) = unpack_rr(msg, off)?;
                // miekg's `IsEdns0` takes the last OPT of the additional section.
                if i == 2 && ext.is_some() {
                    ext_rcode = ext;
                }
                section.push(rr);
                off = next;
            }
        }
        rcode |= ext_rcode.unwrap_or(0);
    }
    let [answer, authority, additional] = sections;
    Ok(Response {
        id,
        rcode,
        answer,
        authority,
        additional,
    })
}

/// Unpacks one record; returns it, the next offset and (for OPT) the extended rcode bits.
fn unpack_rr(msg: &[u8], off: usize) -> Result<(Rr, usize, Option<u16>), String> {
    let (name, off) = unpack_name(msg, off)?;
    let rtype = be16(msg, off)?;
    let class = be16(msg, off + 2)?;
    let ttl = be32(msg, off + 4)?;
    let rdlen = usize::from(be16(msg, off + 8)?);
    let start = off + 10;
    let end = start + rdlen;
    if end > msg.len() {
        return Err("dns: bad rdlength".to_string());
    }
    let header = RrHeader {
        name,
        rtype,
        class,
        ttl,
    };
    let (text, soa_serial) = render(msg, start, end, &header)?;
    let ext = (rtype == TYPE_OPT).then_some(((ttl >> 24) as u16) << 4);
    Ok((Rr { text, soa_serial }, end, ext))
}

/// Messages built by hand for the parser and renderer tests.
#[cfg(test)]
pub(super) mod build {
    /// Builds a message with one answer record of `rtype` whose rdata is `rdata`, owner
    /// `example.com.`, TTL 3600, class `class`; names in rdata may point at offset 12.
    pub(crate) fn one_record(rtype: u16, class: u16, rdata: &[u8]) -> Vec<u8> {
        let mut m = vec![0x12, 0x34, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07example\x03com\x00");
        m.extend_from_slice(&rtype.to_be_bytes());
        m.extend_from_slice(&class.to_be_bytes());
        m.extend_from_slice(&3600u32.to_be_bytes());
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(rdata);
        m
    }

    pub(crate) fn name(s: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for label in s.split('.').filter(|l| !l.is_empty()) {
            out.push(label.len() as u8);
            out.extend_from_slice(label.as_bytes());
        }
        out.push(0);
        out
    }

    pub(crate) fn cat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }
}

#[cfg(test)]
mod tests {
    use super::build::one_record;
    use super::*;

    #[test]
    fn message_parsing_follows_miekg() {
        // A header-only answer is an empty, valid message.
        let r = parse_response(&[0, 7, 0x81, 0x85, 0, 1, 0, 0, 0, 0, 0, 0]).expect("parses");
        assert_eq!((r.id, r.rcode, r.answer.len()), (7, 5, 0));
        // An rdlength running past the end, a short A record and a pointer loop fail.
        let mut long = one_record(1, 1, &[1, 2, 3, 4]);
        long.truncate(long.len() - 1);
        assert!(parse_response(&long).is_err());
        assert!(parse_response(&one_record(1, 1, &[1, 2, 3, 4, 5])).is_err());
        assert!(
            parse_response(&one_record(5, 1, &[0xC0, 35])).is_err(),
            "pointer loop"
        );
        assert!(parse_response(&[0, 1, 0x81]).is_err());
        // The OPT record's upper rcode bits extend the header rcode (BADVERS = 16).
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 41, 2, 0];
        m.extend_from_slice(&0x0100_0000u32.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        assert_eq!(parse_response(&m).expect("parses").rcode, 16);
    }

    #[test]
    fn unpacks_escaped_names() {
        // Owner `a.b\ c\001.example.com.` with a dot and a space inside the first label.
        let mut m = vec![0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0];
        m.extend_from_slice(b"\x07a.b c\x01@\x07example\x03com\x00");
        m.extend_from_slice(&[0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
        let r = parse_response(&m).expect("parses");
        assert_eq!(
            r.answer[0].text,
            "a\\.b\\ c\\001\\@.example.com.\t5\tIN\tA\t10.0.0.1"
        );
    }
}

//! Reading DNS wire format as miekg/dns unpacks it: big-endian integers, (compressed)
//! domain names in miekg's escaped presentation form, and an rdata reader that fails like
//! miekg when a field overruns the record. It knows no record types; rendering a record is
//! `render`, a whole message is `message`.

use std::fmt::Write as _;

pub(super) fn be16(msg: &[u8], off: usize) -> Result<u16, String> {
    msg.get(off..off + 2)
        .map(|b| u16::from_be_bytes([b[0], b[1]]))
        .ok_or_else(|| "dns: overflow unpacking uint16".to_string())
}

pub(super) fn be32(msg: &[u8], off: usize) -> Result<u32, String> {
    msg.get(off..off + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or_else(|| "dns: overflow unpacking uint32".to_string())
}

/// `isDomainNameLabelSpecial`: bytes miekg escapes with a backslash in names.
fn name_special(b: u8) -> bool {
    matches!(
        b,
        b'.' | b' ' | b'\'' | b'@' | b';' | b'(' | b')' | b'"' | b'\\'
    )
}

/// A byte as miekg escapes it in names and strings: `\DDD`, three decimal digits.
fn escape_byte(out: &mut String, b: u8) {
    let _ = write!(out, "\\{b:03}");
}

/// Unpacks a (possibly compressed) name at `off` into miekg's escaped presentation form;
/// returns it and the offset after the name in the original position.
pub(super) fn unpack_name(msg: &[u8], mut off: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut end = None;
    let mut pointers = 0;
    let mut budget: isize = 255;
    loop {
        let c = *msg
            .get(off)
            .ok_or_else(|| "dns: buffer size too small".to_string())?;
        off += 1;
        match c & 0xC0 {
            0x00 => {
                if c == 0 {
                    break;
                }
                let len = usize::from(c);
                budget -= len as isize + 1;
                if budget < 0 {
                    return Err("dns: domain name exceeded 255 wire-format octets".to_string());
                }
                let label = msg
                    .get(off..off + len)
                    .ok_or_else(|| "dns: buffer size too small".to_string())?;
                for &b in label {
                    if name_special(b) {
                        out.push('\\');
                        out.push(char::from(b));
                    } else if !(b' '..=b'~').contains(&b) {
                        escape_byte(&mut out, b);
                    } else {
                        out.push(char::from(b));
                    }
                }
                out.push('.');
                off += len;
            }
            0xC0 => {
                let low = *msg
                    .get(off)
                    .ok_or_else(|| "dns: buffer size too small".to_string())?;
                off += 1;
                if end.is_none() {
                    end = Some(off);
                }
                pointers += 1;
                if pointers > 126 {
                    return Err("dns: too many compression pointers".to_string());
                }
                off = (usize::from(c & 0x3F) << 8) | usize::from(low);
            }
            _ => return Err("dns: bad rdata".to_string()),
        }
    }
    if out.is_empty() {
        out.push('.');
    }
    Ok((out, end.unwrap_or(off)))
}

/// Reads rdata fields in order, failing like miekg when a field overruns the rdata.
pub(super) struct Rdata<'a> {
    pub(super) msg: &'a [u8],
    pub(super) off: usize,
    pub(super) end: usize,
}

impl Rdata<'_> {
    pub(super) fn u8(&mut self) -> Result<u8, String> {
        if self.off + 1 > self.end {
            return Err("dns: overflow unpacking uint8".to_string());
        }
        self.off += 1;
        Ok(self.msg[self.off - 1])
    }
    pub(super) fn u16(&mut self) -> Result<u16, String> {
        if self.off + 2 > self.end {
            return Err("dns: overflow unpacking uint16".to_string());
        }
        self.off += 2;
        be16(self.msg, self.off - 2)
    }
    pub(super) fn u32(&mut self) -> Result<u32, String> {
        if self.off + 4 > self.end {
            return Err("dns: overflow unpacking uint32".to_string());
        }
        self.off += 4;
        be32(self.msg, self.off - 4)
    }
    pub(super) fn bytes(&mut self, n: usize) -> Result<&[u8], String> {
        if self.off + n > self.end {
            return Err("dns: overflow unpacking rdata".to_string());
        }
        self.off += n;
        Ok(&self.msg[self.off - n..self.off])
    }
    pub(super) fn rest(&mut self) -> &[u8] {
        let b = &self.msg[self.off..self.end];
        self.off = self.end;
        b
    }
    pub(super) fn name(&mut self) -> Result<String, String> {
        let (name, next) = unpack_name(self.msg, self.off)?;
        if next > self.end {
            return Err("dns: overflow unpacking domain name".to_string());
        }
        self.off = next;
        Ok(name)
    }
    /// A `<character-string>`, rendered with miekg's TXT escaping (no quotes).
    pub(super) fn string(&mut self) -> Result<String, String> {
        let len = usize::from(self.u8()?);
        let bytes = self.bytes(len)?;
        Ok(txt_escape(bytes))
    }
    pub(super) fn strings(&mut self) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        while self.off < self.end {
            out.push(self.string()?);
        }
        Ok(out)
    }
    /// NSEC-style type bitmap.
    pub(super) fn type_bitmap(&mut self) -> Result<Vec<u16>, String> {
        let mut types = Vec::new();
        while self.off < self.end {
            let window = u16::from(self.u8()?);
            let len = usize::from(self.u8()?);
            if len == 0 || len > 32 {
                return Err("dns: bad rdata: type bitmap".to_string());
            }
            let bits = self.bytes(len)?;
            for (i, byte) in bits.iter().enumerate() {
                for bit in 0..8 {
                    if byte & (0x80 >> bit) != 0 {
                        types.push(window * 256 + (i as u16) * 8 + bit);
                    }
                }
            }
        }
        Ok(types)
    }
}

/// `"` and `\` escaped, unprintable bytes as `\DDD` (miekg `writeTXTStringByte`).
pub(super) fn txt_escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(char::from(b));
            }
            b' '..=b'~' => out.push(char::from(b)),
            _ => escape_byte(&mut out, b),
        }
    }
    out
}

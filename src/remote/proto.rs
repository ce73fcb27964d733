//! Prometheus' remote-write protocol v1 on the wire: `prompb.WriteRequest` as hand-written
//! prost messages (field numbers from prometheus/prompb `remote.proto` and `types.proto`; no
//! build script, no protoc), encoded and snappy block-compressed (not the framed format),
//! as Prometheus' `buildWriteRequest` does. Exemplars, histograms and metadata are not
//! written (blackwatch has none), so their fields are absent.

use prost::Message;

/// `prompb.Label`.
#[derive(Clone, PartialEq, Eq, Message)]
pub struct Label {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prompb.Sample`: a value at a timestamp in milliseconds.
#[derive(Clone, PartialEq, Message)]
pub struct Sample {
    #[prost(double, tag = "1")]
    pub value: f64,
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// `prompb.TimeSeries`: labels sorted by name (`__name__` among them), samples oldest first.
#[derive(Clone, PartialEq, Message)]
pub struct TimeSeries {
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prompb.WriteRequest` (field 3, metadata, is never written).
#[derive(Clone, PartialEq, Message)]
pub struct WriteRequest {
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

impl TimeSeries {
    /// One series with one sample; `labels` must already be sorted by name.
    pub fn single(labels: Vec<(String, String)>, timestamp_ms: i64, value: f64) -> Self {
        TimeSeries {
            labels: labels
                .into_iter()
                .map(|(name, value)| Label { name, value })
                .collect(),
            samples: vec![Sample {
                value,
                timestamp: timestamp_ms,
            }],
        }
    }
}

/// A snappy-compressed request body, and what it holds.
pub struct Body {
    pub bytes: Vec<u8>,
    pub samples: usize,
    /// Highest sample timestamp, ms (0 when empty).
    pub highest_ms: i64,
}

/// Errors decoding a stored or received request.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    #[error("snappy: {0}")]
    Snappy(#[from] snap::Error),
    #[error("protobuf: {0}")]
    Decode(#[from] prost::DecodeError),
}

/// Encodes `req` as protobuf (uncompressed), as stored in the queue.
pub fn encode_plain(req: &WriteRequest) -> Vec<u8> {
    req.encode_to_vec()
}

/// Snappy block compression of `plain`, the body of a remote-write POST.
pub fn compress(plain: &[u8]) -> Result<Vec<u8>, ProtoError> {
    Ok(snap::raw::Encoder::new().compress_vec(plain)?)
}

/// Decodes a snappy-compressed body (what a receiver does).
pub fn decode_body(body: &[u8]) -> Result<WriteRequest, ProtoError> {
    let plain = snap::raw::Decoder::new().decompress_vec(body)?;
    Ok(WriteRequest::decode(plain.as_slice())?)
}

/// Number of samples and the highest timestamp in `req`.
pub fn summary(req: &WriteRequest) -> (usize, i64) {
    let mut n = 0;
    let mut hi = 0;
    for ts in &req.timeseries {
        n += ts.samples.len();
        for s in &ts.samples {
            hi = hi.max(s.timestamp);
        }
    }
    (n, hi)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> WriteRequest {
        WriteRequest {
            timeseries: vec![TimeSeries::single(
                vec![
                    ("__name__".into(), "probe_success".into()),
                    ("instance".into(), "a".into()),
                ],
                1_700_000_000_123,
                1.0,
            )],
        }
    }

    /// The bytes protoc would produce for the same message, written out by hand from the
    /// proto definitions (tag, wire type, length).
    #[test]
    fn bytes_match_the_proto_definition() {
        let got = encode_plain(&req());
        let mut want = Vec::new();
        // Label{name:"__name__", value:"probe_success"}: 0x0a 8 "__name__" 0x12 13 "probe_success"
        let l1: Vec<u8> = [&[0x0a, 8][..], b"__name__", &[0x12, 13], b"probe_success"].concat();
        let l2: Vec<u8> = [&[0x0a, 8][..], b"instance", &[0x12, 1], b"a"].concat();
        // Sample{value:1.0 (tag 1, fixed64), timestamp (tag 2, varint)}
        let mut s = vec![0x09];
        s.extend_from_slice(&1.0f64.to_le_bytes());
        s.push(0x10);
        let mut ts = 1_700_000_000_123u64;
        while ts >= 0x80 {
            s.push((ts as u8) | 0x80);
            ts >>= 7;
        }
        s.push(ts as u8);
        let mut series = Vec::new();
        for (tag, m) in [(0x0a, &l1), (0x0a, &l2), (0x12, &s)] {
            series.push(tag);
            series.push(m.len() as u8);
            series.extend_from_slice(m);
        }
        want.push(0x0a);
        want.push(series.len() as u8);
        want.extend_from_slice(&series);
        assert_eq!(got, want);
    }

    #[test]
    fn body_round_trips_through_snappy_and_prost() {
        let r = req();
        let body = compress(&encode_plain(&r)).unwrap();
        // Snappy's raw format starts with the uncompressed length as a varint, no stream
        // identifier (the framed format starts with 0xff 0x06 0x00 0x00 "sNaPpY").
        assert_ne!(body[0], 0xff);
        assert_eq!(decode_body(&body).unwrap(), r);
        assert_eq!(summary(&r), (1, 1_700_000_000_123));
    }
}

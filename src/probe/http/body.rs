//! Reading the response body as upstream does: decoded as the module's `compression` says
//! (gzip, deflate, brotli or none; the response's `Content-Encoding` is not consulted), at
//! most `body_size_limit` (or [`DEFAULT_BODY_LIMIT`]) decoded bytes counted, and the bytes
//! kept only when body regexes need them. It neither checks the body nor writes metrics;
//! that is `checks`.

use std::io::Write;

use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::probe::module::Compression;

/// The body limit when the module sets no `body_size_limit` (upstream has none): a larger
/// (decoded) body fails the probe with `http: request body too large`, so an endless body or a
/// decompression bomb costs neither unbounded memory nor a whole timeout of CPU.
pub const DEFAULT_BODY_LIMIT: u64 = 32 << 20;

/// Counts (and, when body regexes need it, keeps) the decoded body, enforcing the size limit.
struct Collector {
    keep: bool,
    buf: Vec<u8>,
    count: u64,
    limit: u64,
}

impl Write for Collector {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut take = data.len() as u64;
        let over = self.limit > 0 && self.count + take > self.limit;
        if over {
            take = self.limit - self.count;
        }
        let slice = &data[..take as usize];
        if self.keep {
            self.buf.extend_from_slice(slice);
        }
        self.count += take;
        if over {
            return Err(std::io::Error::other("http: request body too large"));
        }
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Decoder {
    Plain(Collector),
    Gzip(flate2::write::GzDecoder<Collector>),
    Deflate(flate2::write::DeflateDecoder<Collector>),
    Brotli(Box<brotli::DecompressorWriter<Collector>>),
}

impl Decoder {
    fn new(c: Option<Compression>, sink: Collector) -> Self {
        match c {
            None | Some(Compression::Identity) => Decoder::Plain(sink),
            Some(Compression::Gzip) => Decoder::Gzip(flate2::write::GzDecoder::new(sink)),
            Some(Compression::Deflate) => {
                Decoder::Deflate(flate2::write::DeflateDecoder::new(sink))
            }
            Some(Compression::Brotli) => {
                Decoder::Brotli(Box::new(brotli::DecompressorWriter::new(sink, 8192)))
            }
        }
    }
    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Decoder::Plain(w) => w.write_all(data),
            Decoder::Gzip(w) => w.write_all(data),
            Decoder::Deflate(w) => w.write_all(data),
            Decoder::Brotli(w) => w.write_all(data),
        }
    }
    /// Flushes the decoder, even after an error, so that output still buffered inside it
    /// is counted (a body over the limit reports `body_size_limit` bytes read, as upstream).
    /// Returns the bytes counted, the kept body, and any error from the end of the stream.
    fn finish(self) -> (u64, Vec<u8>, Option<String>) {
        fn take(c: &mut Collector) -> (u64, Vec<u8>) {
            (c.count, std::mem::take(&mut c.buf))
        }
        let (count, buf, err) = match self {
            Decoder::Plain(mut w) => {
                let (n, b) = take(&mut w);
                (n, b, None)
            }
            Decoder::Gzip(mut w) => {
                let err = w.try_finish().err();
                let (n, b) = take(w.get_mut());
                (n, b, err.map(|e| e.to_string()))
            }
            Decoder::Deflate(mut w) => {
                let err = w.try_finish().err();
                let (n, b) = take(w.get_mut());
                (n, b, err.map(|e| e.to_string()))
            }
            Decoder::Brotli(mut w) => {
                let flushed = w.flush();
                match w.into_inner() {
                    Ok(mut c) => {
                        let (n, b) = take(&mut c);
                        (n, b, flushed.err().map(|e| e.to_string()))
                    }
                    Err(mut c) => {
                        let (n, b) = take(&mut c);
                        (n, b, Some("brotli: truncated stream".to_string()))
                    }
                }
            }
        };
        (count, buf, err)
    }
}

/// Decodes a response body arriving in `chunks` exactly as the prober does: `compression`
/// undone, at most `limit` decoded bytes counted (and kept when `keep`). Returns the bytes
/// counted, the kept body and the error that fails the probe, if any. The prober reads
/// frames asynchronously; this synchronous form is the entry point of the fuzz targets.
pub fn decode_body<'a>(
    compression: Option<Compression>,
    chunks: impl IntoIterator<Item = &'a [u8]>,
    limit: u64,
    keep: bool,
) -> (u64, Vec<u8>, Option<String>) {
    let mut decoder = collecting_decoder(compression, limit, keep);
    let mut write_error = None;
    for chunk in chunks {
        if let Err(e) = decoder.write_all(chunk) {
            write_error = Some(e.to_string());
            break;
        }
    }
    let (count, buf, finish_error) = decoder.finish();
    (count, buf, write_error.or(finish_error))
}

/// A decoder for `compression` that counts the decoded bytes against `limit` and keeps them
/// when `keep`.
fn collecting_decoder(compression: Option<Compression>, limit: u64, keep: bool) -> Decoder {
    Decoder::new(
        compression,
        Collector {
            keep,
            buf: Vec::new(),
            count: 0,
            limit,
        },
    )
}

/// The body as read: the decoded bytes counted, the bytes kept (when asked for) and the
/// error that fails the probe, if any.
pub(super) struct Read {
    pub(super) count: u64,
    pub(super) kept: Vec<u8>,
    pub(super) error: Option<String>,
}

/// Reads `body` frame by frame through the decoder of `compression`, as [`decode_body`]
/// does for chunks already in memory.
pub(super) async fn read(
    body: Option<Incoming>,
    compression: Option<Compression>,
    limit: u64,
    keep: bool,
) -> Read {
    let mut decoder = collecting_decoder(compression, limit, keep);
    let mut read_error: Option<String> = None;
    if let Some(mut body) = body {
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => {
                    if let Some(data) = f.data_ref() {
                        if let Err(e) = decoder.write_all(data) {
                            read_error = Some(e.to_string());
                            break;
                        }
                    }
                }
                Err(e) => {
                    read_error = Some(e.to_string());
                    break;
                }
            }
        }
    }
    let (count, kept, finish_error) = decoder.finish();
    // After a read error the decoder's own complaint adds nothing.
    Read {
        count,
        kept,
        error: read_error.or(finish_error),
    }
}

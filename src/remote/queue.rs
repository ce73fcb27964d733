//! The on-disk queue of one remote-write endpoint: batches waiting to be sent, in segment
//! files under `<--storage.path>/remote_write/<queue>/`, so a restart (or kill -9) loses
//! nothing that was appended.
//!
//! A segment (`00000000000000000042.seg`) is a sequence of records, each
//! `[body length: u32 LE][CRC-32 of body: u32 LE][body]`, the body being
//! `[samples: u32 LE][highest timestamp ms: i64 LE][protobuf WriteRequest]`. Every append is
//! written and `fdatasync`ed before it returns. On open, each segment is scanned: the first
//! record whose header or body is short, or whose checksum does not match (a torn write
//! at a crash), ends the segment, and the file is truncated there. The send position (the
//! first record not yet acknowledged) is kept in `cursor` (`<segment> <offset>`, replaced by
//! rename after each acknowledgement, not synced: after a crash at most the last few
//! acknowledged batches are sent again, which receivers accept as duplicates). Segments
//! wholly acknowledged are deleted.
//!
//! The queue is bounded by bytes: when an append takes it over the bound, whole segments
//! are dropped oldest first and their unsent samples counted as dropped. Plain synchronous
//! file I/O: the caller runs it off the async threads (`spawn_blocking`).

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Bytes of a record header.
pub const HEADER: u64 = 8;
/// Bytes of the body prefix (sample count and highest timestamp).
const PREFIX: usize = 12;
/// Refuse records larger than this when scanning (a corrupt length).
const MAX_RECORD: u32 = 256 << 20;

#[derive(Clone, Copy, Debug)]
struct RecordMeta {
    offset: u64,
    /// Body length.
    len: u32,
    samples: u32,
}

#[derive(Debug)]
struct Segment {
    id: u64,
    bytes: u64,
    records: Vec<RecordMeta>,
}

/// Where a record is: segment id and index within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Pos {
    pub segment: u64,
    pub index: usize,
}

/// One record read back for sending.
#[derive(Debug)]
pub struct Record {
    pub pos: Pos,
    pub samples: u32,
    pub highest_ms: i64,
    /// The protobuf `WriteRequest`, uncompressed.
    pub payload: Vec<u8>,
}

/// What `open` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Records waiting to be sent.
    pub records: usize,
    pub samples: u64,
    /// Bytes cut off torn or corrupt segment tails.
    pub truncated_bytes: u64,
}

pub struct DiskQueue {
    dir: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: VecDeque<Segment>,
    /// Append handle of the last segment, while it has room.
    head: Option<File>,
    /// The first record not acknowledged.
    cursor: Pos,
    total_bytes: u64,
    pending_samples: u64,
}

fn seg_name(id: u64) -> String {
    format!("{id:020}.seg")
}

/// Segment size for a bound: small enough that dropping one frees a fraction of the queue.
pub fn segment_bytes_for(max_bytes: u64) -> u64 {
    (max_bytes / 8).clamp(4 << 10, 8 << 20)
}

impl DiskQueue {
    /// Opens (creating) the queue in `dir`, recovering what a previous run left.
    pub fn open(dir: &Path, max_bytes: u64) -> io::Result<(Self, Recovery)> {
        fs::create_dir_all(dir)?;
        let mut ids: Vec<u64> = fs::read_dir(dir)?
            .filter_map(Result::ok)
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                name.strip_suffix(".seg")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        let mut recovery = Recovery::default();
        let mut segments = VecDeque::new();
        for id in ids {
            let path = dir.join(seg_name(id));
            let (seg, cut) = scan(&path, id)?;
            recovery.truncated_bytes += cut;
            segments.push_back(seg);
        }
        let cursor = read_cursor(dir)
            .and_then(|(sid, off)| {
                let seg = segments.iter().find(|s| s.id == sid)?;
                let index = seg
                    .records
                    .iter()
                    .position(|r| r.offset >= off)
                    .unwrap_or(seg.records.len());
                Some(Pos {
                    segment: sid,
                    index,
                })
            })
            .unwrap_or(Pos {
                segment: segments.front().map_or(0, |s| s.id),
                index: 0,
            });
        let mut q = DiskQueue {
            dir: dir.to_path_buf(),
            max_bytes: max_bytes.max(1),
            segment_bytes: segment_bytes_for(max_bytes),
            segments,
            head: None,
            cursor,
            total_bytes: 0,
            pending_samples: 0,
        };
        // Segments before the cursor were acknowledged.
        while q.segments.front().is_some_and(|s| s.id < q.cursor.segment) {
            q.remove_front()?;
        }
        q.total_bytes = q.segments.iter().map(|s| s.bytes).sum();
        q.pending_samples = q.count_pending();
        recovery.records = q.pending_records();
        recovery.samples = q.pending_samples;
        Ok((q, recovery))
    }

    fn count_pending(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| {
                let from = if s.id == self.cursor.segment {
                    self.cursor.index
                } else if s.id < self.cursor.segment {
                    s.records.len()
                } else {
                    0
                };
                s.records[from.min(s.records.len())..]
                    .iter()
                    .map(|r| u64::from(r.samples))
                    .sum::<u64>()
            })
            .sum()
    }

    /// Records not yet acknowledged.
    pub fn pending_records(&self) -> usize {
        self.segments
            .iter()
            .map(|s| {
                if s.id == self.cursor.segment {
                    s.records.len().saturating_sub(self.cursor.index)
                } else if s.id < self.cursor.segment {
                    0
                } else {
                    s.records.len()
                }
            })
            .sum()
    }

    /// Samples not yet acknowledged.
    pub fn pending_samples(&self) -> u64 {
        self.pending_samples
    }

    /// Bytes on disk.
    pub fn bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Appends one batch and syncs it to disk. Returns the samples dropped (oldest
    /// segments) to stay within the bound.
    pub fn append(&mut self, samples: u32, highest_ms: i64, payload: &[u8]) -> io::Result<u64> {
        let body_len = PREFIX + payload.len();
        let len = u32::try_from(body_len)
            .ok()
            .filter(|l| *l <= MAX_RECORD)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "batch too large"))?;
        let need_new = match (self.segments.back(), &self.head) {
            (Some(s), Some(_)) => s.bytes >= self.segment_bytes,
            _ => true,
        };
        if need_new {
            let id = self.segments.back().map_or(1, |s| s.id + 1);
            let path = self.dir.join(seg_name(id));
            let file = OpenOptions::new()
                .create(true)
                .truncate(true)
                .write(true)
                .open(&path)?;
            // The new file's directory entry must survive a crash too.
            File::open(&self.dir)?.sync_all()?;
            self.head = Some(file);
            if self.segments.is_empty() {
                self.cursor = Pos {
                    segment: id,
                    index: 0,
                };
            }
            self.segments.push_back(Segment {
                id,
                bytes: 0,
                records: Vec::new(),
            });
        }
        let mut buf = Vec::with_capacity(HEADER as usize + body_len);
        buf.extend_from_slice(&len.to_le_bytes());
        buf.extend_from_slice(&[0; 4]);
        buf.extend_from_slice(&samples.to_le_bytes());
        buf.extend_from_slice(&highest_ms.to_le_bytes());
        buf.extend_from_slice(payload);
        let crc = crc32fast::hash(&buf[HEADER as usize..]);
        buf[4..8].copy_from_slice(&crc.to_le_bytes());
        let (Some(file), Some(seg)) = (self.head.as_mut(), self.segments.back_mut()) else {
            return Err(io::Error::other("no head segment"));
        };
        if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
            // Cut a partial record off so the segment stays readable.
            let _ = file.set_len(seg.bytes);
            self.head = None;
            return Err(e);
        }
        seg.records.push(RecordMeta {
            offset: seg.bytes,
            len,
            samples,
        });
        seg.bytes += buf.len() as u64;
        self.total_bytes += buf.len() as u64;
        self.pending_samples += u64::from(samples);
        let mut dropped = 0;
        while self.total_bytes > self.max_bytes && self.segments.len() > 1 {
            dropped += self.drop_oldest()?;
        }
        Ok(dropped)
    }

    /// Drops the oldest segment; returns its unsent samples.
    fn drop_oldest(&mut self) -> io::Result<u64> {
        let Some(front) = self.segments.front() else {
            return Ok(0);
        };
        let from = if front.id == self.cursor.segment {
            self.cursor.index
        } else if front.id < self.cursor.segment {
            front.records.len()
        } else {
            0
        };
        let lost: u64 = front.records[from.min(front.records.len())..]
            .iter()
            .map(|r| u64::from(r.samples))
            .sum();
        self.remove_front()?;
        if let Some(next) = self.segments.front() {
            if self.cursor.segment < next.id {
                self.cursor = Pos {
                    segment: next.id,
                    index: 0,
                };
                self.write_cursor();
            }
        }
        self.pending_samples = self.pending_samples.saturating_sub(lost);
        Ok(lost)
    }

    fn remove_front(&mut self) -> io::Result<()> {
        if let Some(s) = self.segments.pop_front() {
            self.total_bytes = self.total_bytes.saturating_sub(s.bytes);
            if self.segments.is_empty() {
                self.head = None;
            }
            match fs::remove_file(self.dir.join(seg_name(s.id))) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        Ok(())
    }

    /// The first record not acknowledged, read from disk.
    pub fn peek(&mut self) -> io::Result<Option<Record>> {
        loop {
            let Some(seg) = self.segments.iter().find(|s| s.id >= self.cursor.segment) else {
                return Ok(None);
            };
            if seg.id > self.cursor.segment {
                self.cursor = Pos {
                    segment: seg.id,
                    index: 0,
                };
            }
            let Some(meta) = seg.records.get(self.cursor.index).copied() else {
                // This segment is done; move on if a later one exists.
                if self.segments.back().is_some_and(|b| b.id > seg.id) {
                    self.cursor = Pos {
                        segment: seg.id + 1,
                        index: 0,
                    };
                    continue;
                }
                return Ok(None);
            };
            let mut f = File::open(self.dir.join(seg_name(seg.id)))?;
            f.seek(SeekFrom::Start(meta.offset + HEADER))?;
            let mut body = vec![0u8; meta.len as usize];
            f.read_exact(&mut body)?;
            let highest_ms = i64::from_le_bytes(body[4..12].try_into().unwrap_or([0; 8]));
            body.drain(..PREFIX);
            return Ok(Some(Record {
                pos: self.cursor,
                samples: meta.samples,
                highest_ms,
                payload: body,
            }));
        }
    }

    /// Marks the record at `pos` (the one `peek` returned) as sent or given up; deletes
    /// segments left with nothing to send.
    pub fn ack(&mut self, pos: Pos) -> io::Result<()> {
        if pos != self.cursor {
            // The record was dropped by the bound meanwhile.
            return Ok(());
        }
        if let Some(seg) = self.segments.iter().find(|s| s.id == pos.segment) {
            if let Some(r) = seg.records.get(pos.index) {
                self.pending_samples = self.pending_samples.saturating_sub(u64::from(r.samples));
            }
        }
        self.cursor.index += 1;
        while let Some(front) = self.segments.front() {
            let done = front.id < self.cursor.segment
                || (front.id == self.cursor.segment && self.cursor.index >= front.records.len());
            // The head segment stays while it takes appends.
            if !done || self.segments.len() == 1 {
                break;
            }
            let next = self.segments.get(1).map(|s| s.id);
            self.remove_front()?;
            if let Some(n) = next {
                if self.cursor.segment < n {
                    self.cursor = Pos {
                        segment: n,
                        index: 0,
                    };
                }
            }
        }
        self.write_cursor();
        Ok(())
    }

    /// Records the cursor as a byte offset (rename, not synced: see the module doc).
    fn write_cursor(&self) {
        let offset = self
            .segments
            .iter()
            .find(|s| s.id == self.cursor.segment)
            .map_or(0, |s| {
                s.records
                    .get(self.cursor.index)
                    .map_or(s.bytes, |r| r.offset)
            });
        let tmp = self.dir.join("cursor.tmp");
        let text = format!("{} {}\n", self.cursor.segment, offset);
        if fs::write(&tmp, text)
            .and_then(|()| fs::rename(&tmp, self.dir.join("cursor")))
            .is_err()
        {
            tracing::warn!(message = "Could not record the remote-write queue position", dir = %self.dir.display());
        }
    }
}

fn read_cursor(dir: &Path) -> Option<(u64, u64)> {
    let text = fs::read_to_string(dir.join("cursor")).ok()?;
    let mut it = text.split_whitespace();
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// Reads a segment's records; truncates the file at the first bad one. Returns the segment
/// and the bytes cut.
fn scan(path: &Path, id: u64) -> io::Result<(Segment, u64)> {
    let data = fs::read(path)?;
    let mut records = Vec::new();
    let mut off = 0usize;
    loop {
        let rest = &data[off..];
        if rest.len() < HEADER as usize {
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        let end = HEADER as usize + len as usize;
        if len > MAX_RECORD || (len as usize) < PREFIX || rest.len() < end {
            break;
        }
        let body = &rest[HEADER as usize..end];
        if crc32fast::hash(body) != crc {
            break;
        }
        let samples = u32::from_le_bytes([body[0], body[1], body[2], body[3]]);
        records.push(RecordMeta {
            offset: off as u64,
            len,
            samples,
        });
        off += end;
    }
    let cut = (data.len() - off) as u64;
    if cut > 0 {
        tracing::warn!(
            message = "Dropping a torn or corrupt tail of a remote-write queue segment",
            segment = %path.display(),
            bytes = cut
        );
        OpenOptions::new()
            .write(true)
            .open(path)?
            .set_len(off as u64)?;
    }
    Ok((
        Segment {
            id,
            bytes: off as u64,
            records,
        },
        cut,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(i: u32) -> Vec<u8> {
        format!("batch-{i:04}").repeat(10).into_bytes()
    }

    #[test]
    fn appended_batches_come_back_in_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, r) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(r, Recovery::default());
        for i in 0..5 {
            assert_eq!(q.append(10, i64::from(i), &payload(i)).unwrap(), 0);
        }
        let rec = q.peek().unwrap().unwrap();
        assert_eq!((rec.samples, rec.highest_ms), (10, 0));
        assert_eq!(rec.payload, payload(0));
        q.ack(rec.pos).unwrap();
        assert_eq!(q.pending_samples(), 40);
        drop(q);
        let (mut q, r) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        assert_eq!((r.records, r.samples, r.truncated_bytes), (4, 40, 0));
        for i in 1..5 {
            let rec = q.peek().unwrap().unwrap();
            assert_eq!(rec.payload, payload(i));
            q.ack(rec.pos).unwrap();
        }
        assert!(q.peek().unwrap().is_none());
        assert_eq!(q.pending_samples(), 0);
    }

    #[test]
    fn acknowledged_segments_are_deleted() {
        let dir = tempfile::tempdir().unwrap();
        // 4 KiB segments: each ~130-byte record, so ~32 per segment.
        let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        q.segment_bytes = 4096;
        for i in 0..100 {
            q.append(1, 0, &payload(i)).unwrap();
        }
        let segs = || {
            fs::read_dir(dir.path())
                .unwrap()
                .filter(|e| {
                    e.as_ref()
                        .unwrap()
                        .file_name()
                        .to_string_lossy()
                        .ends_with(".seg")
                })
                .count()
        };
        assert!(segs() >= 3);
        for _ in 0..100 {
            let rec = q.peek().unwrap().unwrap();
            q.ack(rec.pos).unwrap();
        }
        assert_eq!(segs(), 1, "only the head segment stays");
        assert!(q.peek().unwrap().is_none());
        q.append(1, 0, &payload(7)).unwrap();
        assert_eq!(q.peek().unwrap().unwrap().payload, payload(7));
    }

    #[test]
    fn over_the_bound_the_oldest_segments_are_dropped_and_counted() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), 16 << 10).unwrap();
        assert_eq!(q.segment_bytes, 4096);
        let mut dropped = 0;
        for i in 0..1000 {
            dropped += q.append(1, i64::from(i), &payload(i)).unwrap();
        }
        assert!(q.bytes() <= 16 << 10, "{}", q.bytes());
        assert_eq!(dropped + q.pending_samples(), 1000);
        assert!(dropped > 800);
        // What is left is the newest, in order.
        let first = q.peek().unwrap().unwrap();
        assert_eq!(first.highest_ms, 1000 - q.pending_samples() as i64);
    }

    #[test]
    fn a_torn_last_record_is_cut_and_the_rest_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        for i in 0..3 {
            q.append(5, 0, &payload(i)).unwrap();
        }
        drop(q);
        let seg = dir.path().join(seg_name(1));
        let full = fs::metadata(&seg).unwrap().len();
        // A crash in the middle of the third record's write.
        OpenOptions::new()
            .write(true)
            .open(&seg)
            .unwrap()
            .set_len(full - 20)
            .unwrap();
        let (mut q, r) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        assert_eq!((r.records, r.samples), (2, 10));
        assert_eq!(r.truncated_bytes, full - 20 - 2 * (full / 3));
        assert_eq!(fs::metadata(&seg).unwrap().len(), 2 * (full / 3));
        // Appends continue after the cut.
        q.append(5, 0, &payload(9)).unwrap();
        let mut got = Vec::new();
        while let Some(rec) = q.peek().unwrap() {
            got.push(rec.payload.clone());
            q.ack(rec.pos).unwrap();
        }
        assert_eq!(got, vec![payload(0), payload(1), payload(9)]);
    }

    #[test]
    fn a_flipped_byte_fails_the_checksum() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        for i in 0..3 {
            q.append(5, 0, &payload(i)).unwrap();
        }
        drop(q);
        let seg = dir.path().join(seg_name(1));
        let mut bytes = fs::read(&seg).unwrap();
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        fs::write(&seg, bytes).unwrap();
        let (_, r) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(r.records, 2);
        assert!(r.truncated_bytes > 0);
    }

    #[test]
    fn a_lost_cursor_sends_everything_again() {
        let dir = tempfile::tempdir().unwrap();
        let (mut q, _) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        for i in 0..3 {
            q.append(1, 0, &payload(i)).unwrap();
        }
        let rec = q.peek().unwrap().unwrap();
        q.ack(rec.pos).unwrap();
        drop(q);
        fs::write(dir.path().join("cursor"), "").unwrap();
        let (_, r) = DiskQueue::open(dir.path(), 1 << 20).unwrap();
        assert_eq!(r.records, 3);
    }
}

//! The control interface's wire framing: each message is a protobuf varint giving its length,
//! then that many bytes of protobuf, both ways (Ankaios' length-delimited encoding).
//!
//! [`FrameReader`] takes bytes as they come from a FIFO, hostile ones included, and hands out
//! whole frames. Its bound is a parameter: a length above it is an error at once, before a byte
//! of the frame is buffered, so a workload cannot make the agent hold more than one bounded frame.
//! No I/O here: the agent's FIFO server reads and writes.

/// The largest frame the agent accepts by default, in bytes. An `UpdateStateRequest` carries a
/// manifest, whose JSON form the controller bounds at 16 MiB; 4 MiB of protobuf is far more than
/// any real manifest and small enough to hold per workload.
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;

/// A varint is at most 10 bytes (64 bits, 7 per byte).
const MAX_VARINT_LEN: usize = 10;

/// Why the byte stream cannot be read further. After one of these the stream is out of step:
/// the caller drops what is buffered ([`FrameReader::reset`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// The length prefix is not a varint of at most 10 bytes.
    #[error("the frame length is not a valid varint")]
    BadLength,
    /// The length prefix announces more than the bound.
    #[error("a frame of {len} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The announced length.
        len: u64,
        /// The bound.
        max: usize,
    },
}

/// Cuts a byte stream into frames, holding at most one partial frame.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    max_frame: usize,
}

impl FrameReader {
    /// A reader refusing frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> Self {
        Self {
            buf: Vec::new(),
            max_frame,
        }
    }

    /// Appends bytes read from the stream. Call [`FrameReader::next_frame`] until it returns
    /// `Ok(None)` after each push, so the buffer never holds more than one frame and one read.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Drops everything buffered (after an error, or when the peer is gone).
    pub fn reset(&mut self) {
        self.buf = Vec::new();
    }

    /// How many bytes are buffered.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next whole frame's payload, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let mut len: u64 = 0;
        let mut header = None;
        for (i, byte) in self.buf.iter().take(MAX_VARINT_LEN).enumerate() {
            len |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                header = Some(i + 1);
                break;
            }
        }
        let Some(header) = header else {
            return if self.buf.len() >= MAX_VARINT_LEN {
                Err(FrameError::BadLength)
            } else {
                Ok(None)
            };
        };
        if len > self.max_frame as u64 {
            return Err(FrameError::TooLarge {
                len,
                max: self.max_frame,
            });
        }
        // Cannot truncate: len <= max_frame, a usize.
        let end = header + len as usize;
        if self.buf.len() < end {
            return Ok(None);
        }
        let frame = self.buf[header..end].to_vec();
        self.buf.drain(..end);
        Ok(Some(frame))
    }
}

/// One message as a frame: its length as a varint, then its bytes.
pub fn encode_frame(message: &impl prost::Message) -> Vec<u8> {
    message.encode_length_delimited_to_vec()
}

/// Checks a Hello's `protocolVersion` as Ankaios does: it must parse as a semantic version whose
/// major is 1 (the minor is ignored, so the Python SDK's "1.0.0" and the Rust SDK's "1.1.0"
/// pass, "0.7.0", "v1" and "1.0" do not). The error is the `ConnectionClosed` reason.
pub fn check_protocol_version(version: &str) -> Result<(), String> {
    match semver::Version::parse(version) {
        Ok(v) if v.major == SUPPORTED_MAJOR => Ok(()),
        _ => Err(format!(
            "Unsupported protocol version '{version}'. Currently supported '{SUPPORTED_MAJOR}'"
        )),
    }
}

/// The protocol major the agent speaks (Ankaios 1.x).
pub const SUPPORTED_MAJOR: u64 = 1;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::control_interface::proto::{to_ankaios, Hello, ToAnkaios};

    fn hello(v: &str) -> ToAnkaios {
        ToAnkaios {
            content: Some(to_ankaios::Content::Hello(Hello {
                protocol_version: v.into(),
            })),
        }
    }

    #[test]
    fn frames_split_across_reads_and_several_in_one_read_come_out_whole() {
        let mut bytes = encode_frame(&hello("1.0.0"));
        bytes.extend(encode_frame(&hello("1.1.0")));
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        let mut frames = Vec::new();
        for byte in &bytes {
            reader.push(std::slice::from_ref(byte));
            while let Some(frame) = reader.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames.len(), 2);
        let first: ToAnkaios = prost::Message::decode(frames[0].as_slice()).unwrap();
        assert_eq!(first, hello("1.0.0"));
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn a_frame_at_the_limit_is_read_and_one_byte_more_is_refused_before_buffering() {
        let max = 300;
        let mut at_limit = vec![0xac, 0x02]; // varint 300
        at_limit.extend(vec![7u8; 300]);
        let mut reader = FrameReader::new(max);
        reader.push(&at_limit);
        assert_eq!(reader.next_frame().unwrap().unwrap().len(), 300);

        let mut reader = FrameReader::new(max);
        reader.push(&[0xad, 0x02]); // varint 301, no payload yet
        assert_eq!(
            reader.next_frame(),
            Err(FrameError::TooLarge { len: 301, max })
        );
    }

    #[test]
    fn a_length_of_more_than_ten_varint_bytes_is_refused() {
        let mut reader = FrameReader::new(MAX_FRAME_LEN);
        reader.push(&[0xff; 9]);
        assert_eq!(reader.next_frame(), Ok(None));
        reader.push(&[0xff]);
        assert_eq!(reader.next_frame(), Err(FrameError::BadLength));
        reader.reset();
        assert_eq!(reader.buffered(), 0);
    }

    #[test]
    fn random_bytes_end_in_errors_or_frames_never_a_panic_and_stay_bounded() {
        let max = 64 * 1024;
        let mut reader = FrameReader::new(max);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut chunk = [0u8; 4096];
        for _ in 0..256 {
            for b in chunk.iter_mut() {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *b = x as u8;
            }
            reader.push(&chunk);
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => {
                        let _ = <ToAnkaios as prost::Message>::decode(frame.as_slice());
                    }
                    Ok(None) => break,
                    Err(_) => reader.reset(),
                }
            }
            assert!(reader.buffered() <= max + MAX_VARINT_LEN + chunk.len());
        }
    }

    /// (version, accepted): Ankaios' check (`common/src/helpers.rs`).
    #[test]
    fn only_semver_versions_of_major_1_are_accepted() {
        let cases = [
            ("1.0.0", true),
            ("1.1.0", true),
            ("1.99.3-rc.1", true),
            ("0.7.0", false),
            ("2.0.0", false),
            ("v1", false),
            ("1.0", false),
            ("", false),
            ("garbage", false),
        ];
        for (version, accepted) in cases {
            let result = check_protocol_version(version);
            assert_eq!(result.is_ok(), accepted, "{version}");
            if let Err(reason) = result {
                assert_eq!(
                    reason,
                    format!("Unsupported protocol version '{version}'. Currently supported '1'")
                );
            }
        }
    }
}

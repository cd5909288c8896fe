//! The IR version and operator sets of an `.onnx` file, read from its protobuf without loading
//! the graph: ModelProto field 1 is `ir_version`, field 8 the repeated `opset_import`
//! (OperatorSetIdProto: 1 `domain`, 2 `version`). Length-delimited fields (the graph and its
//! weights) are skipped by seeking.

use std::fs::File;
use std::io::{BufReader, Cursor, Read, Seek, SeekFrom};
use std::path::Path;

/// Newest ONNX IR version ONNX Runtime 1.31 loads.
pub const MAX_IR_VERSION: i64 = 13;

/// Newest opset of the default domain ONNX Runtime 1.31 loads.
pub const MAX_OPSET: i64 = 26;

/// What the header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnnxHeader {
    /// `ir_version`.
    pub ir_version: i64,
    /// (domain, version) of each `opset_import`; "" is the default domain.
    pub opsets: Vec<(String, i64)>,
}

impl OnnxHeader {
    /// The opset of the default ONNX domain ("" or "ai.onnx"), if imported.
    pub fn default_opset(&self) -> Option<i64> {
        self.opsets
            .iter()
            .find(|(d, _)| d.is_empty() || d == "ai.onnx")
            .map(|(_, v)| *v)
    }

    /// Reads the header of `path`; `Err` carries a sentence on what is wrong.
    pub fn read(path: &Path) -> Result<Self, String> {
        let file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
        let len = file
            .metadata()
            .map_err(|e| format!("cannot stat: {e}"))?
            .len();
        Self::parse(BufReader::new(file), len)
    }

    /// Reads the header of an ONNX model held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        Self::parse(Cursor::new(bytes), bytes.len() as u64)
    }

    fn parse(inner: impl Read + Seek, len: u64) -> Result<Self, String> {
        let mut reader = Protobuf { inner, end: len };
        let mut header = OnnxHeader {
            ir_version: 0,
            opsets: Vec::new(),
        };
        while reader.position()? < len {
            let key = reader.varint()?;
            match (key >> 3, key & 7) {
                (1, 0) => header.ir_version = reader.varint()? as i64,
                (8, 2) => {
                    let size = reader.varint()?;
                    header.opsets.push(reader.opset(size)?);
                }
                (_, wire) => reader.skip(wire)?,
            }
        }
        if header.ir_version == 0 {
            return Err("not an ONNX model: no ir_version field".into());
        }
        Ok(header)
    }

    /// `Err` when ONNX Runtime 1.31 cannot load this model.
    pub fn check_supported(&self) -> Result<(), String> {
        if self.ir_version > MAX_IR_VERSION {
            return Err(format!(
                "ONNX IR version {} is newer than {MAX_IR_VERSION}, the newest ONNX Runtime 1.31 loads; \
                 export with ir_version <= {MAX_IR_VERSION}",
                self.ir_version
            ));
        }
        match self.default_opset() {
            Some(opset) if opset > MAX_OPSET => Err(format!(
                "opset {opset} is newer than {MAX_OPSET}, the newest ONNX Runtime 1.31 loads; export with \
                 opset_version <= {MAX_OPSET}"
            )),
            _ => Ok(()),
        }
    }
}

struct Protobuf<R> {
    inner: R,
    end: u64,
}

impl<R: Read + Seek> Protobuf<R> {
    fn position(&mut self) -> Result<u64, String> {
        self.inner.stream_position().map_err(|e| e.to_string())
    }

    fn byte(&mut self) -> Result<u8, String> {
        let mut b = [0u8];
        self.inner
            .read_exact(&mut b)
            .map_err(|_| "not an ONNX model: truncated protobuf".to_string())?;
        Ok(b[0])
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("not an ONNX model: malformed varint".into())
    }

    fn skip(&mut self, wire: u64) -> Result<(), String> {
        let bytes = match wire {
            0 => return self.varint().map(drop),
            1 => 8,
            2 => self.varint()?,
            5 => 4,
            _ => return Err(format!("not an ONNX model: protobuf wire type {wire}")),
        };
        let target = self
            .position()?
            .checked_add(bytes)
            .filter(|&t| t <= self.end);
        let target = target
            .ok_or_else(|| "not an ONNX model: field runs past the end of the file".to_string())?;
        self.inner
            .seek(SeekFrom::Start(target))
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    fn opset(&mut self, size: u64) -> Result<(String, i64), String> {
        let end = self
            .position()?
            .checked_add(size)
            .filter(|&e| e <= self.end)
            .ok_or_else(|| {
                "not an ONNX model: opset_import runs past the end of the file".to_string()
            })?;
        let (mut domain, mut version) = (String::new(), 0i64);
        while self.position()? < end {
            let key = self.varint()?;
            match (key >> 3, key & 7) {
                (1, 2) => {
                    let len = self.varint()? as usize;
                    if len > 1024 {
                        return Err("not an ONNX model: opset domain too long".into());
                    }
                    let mut bytes = vec![0u8; len];
                    self.inner
                        .read_exact(&mut bytes)
                        .map_err(|e| e.to_string())?;
                    domain = String::from_utf8_lossy(&bytes).into_owned();
                }
                (2, 0) => version = self.varint()? as i64,
                (_, wire) => self.skip(wire)?,
            }
        }
        Ok((domain, version))
    }
}

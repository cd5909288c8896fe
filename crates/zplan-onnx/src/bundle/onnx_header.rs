//! The IR version and operator sets of an `.onnx` file, read from its protobuf without decoding
//! the graph: ModelProto field 1 is `ir_version`, field 8 the repeated `opset_import`
//! (OperatorSetIdProto: 1 `domain`, 2 `version`).

use std::path::Path;

use crate::protobuf::Reader;

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
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        Self::from_bytes(&bytes)
    }

    /// Reads the header of an ONNX model held in memory.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let mut header = OnnxHeader {
            ir_version: 0,
            opsets: Vec::new(),
        };
        let mut model = Reader::new(bytes);
        while let Some((field, value)) = model.field()? {
            match field {
                1 => header.ir_version = value.varint("ir_version")? as i64,
                8 => {
                    let (mut domain, mut version) = (String::new(), 0);
                    let mut opset = Reader::new(value.bytes("opset_import")?);
                    while let Some((field, value)) = opset.field()? {
                        match field {
                            1 => domain = value.string("opset_import.domain")?,
                            2 => version = value.varint("opset_import.version")? as i64,
                            _ => {}
                        }
                    }
                    header.opsets.push((domain, version));
                }
                _ => {}
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

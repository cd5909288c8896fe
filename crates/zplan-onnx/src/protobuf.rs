//! The protobuf wire format, as much of it as ONNX's messages need: each field is a key
//! (field number << 3 | wire type) followed by a varint (0), 8 bytes (1), a varint length and
//! that many bytes (2: sub-messages, strings, bytes, packed arrays) or 4 bytes (5).
//!
//! Every read is bounds-checked: a malformed or truncated file is an `Err` with a sentence,
//! never a panic or an allocation sized by the file.

/// One field's value.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Value<'a> {
    Varint(u64),
    /// 8 bytes (ONNX's doubles and fixed 64-bit integers, which zplan does not read).
    Fixed64,
    Bytes(&'a [u8]),
    Fixed32(u32),
}

impl<'a> Value<'a> {
    /// The bytes of a length-delimited field, or an error naming `what`.
    pub fn bytes(self, what: &str) -> Result<&'a [u8], String> {
        match self {
            Value::Bytes(bytes) => Ok(bytes),
            _ => Err(format!("not an ONNX model: {what} is not length-delimited")),
        }
    }

    pub fn string(self, what: &str) -> Result<String, String> {
        Ok(String::from_utf8_lossy(self.bytes(what)?).into_owned())
    }

    pub fn varint(self, what: &str) -> Result<u64, String> {
        match self {
            Value::Varint(v) => Ok(v),
            _ => Err(format!("not an ONNX model: {what} is not a varint")),
        }
    }

    pub fn float(self, what: &str) -> Result<f32, String> {
        match self {
            Value::Fixed32(bits) => Ok(f32::from_bits(bits)),
            _ => Err(format!("not an ONNX model: {what} is not a 32-bit float")),
        }
    }

    /// A repeated varint field: one element, or a packed run of them.
    pub fn push_varints(self, what: &str, out: &mut Vec<i64>) -> Result<(), String> {
        match self {
            Value::Varint(v) => out.push(v as i64),
            Value::Bytes(bytes) => {
                let mut reader = Reader::new(bytes);
                while !reader.at_end() {
                    out.push(reader.varint()? as i64);
                }
            }
            _ => return Err(format!("not an ONNX model: {what} is not a varint")),
        }
        Ok(())
    }

    /// A repeated float field: one element, or a packed run of little-endian f32.
    pub fn push_floats(self, what: &str, out: &mut Vec<f32>) -> Result<(), String> {
        match self {
            Value::Fixed32(bits) => out.push(f32::from_bits(bits)),
            Value::Bytes(bytes) => out.extend(little_endian_f32(bytes, what)?),
            _ => return Err(format!("not an ONNX model: {what} is not a float")),
        }
        Ok(())
    }
}

/// The f32 values of `bytes` (little-endian, as ONNX stores `raw_data` and packed floats).
pub(crate) fn little_endian_f32<'a>(
    bytes: &'a [u8],
    what: &str,
) -> Result<impl Iterator<Item = f32> + 'a, String> {
    if !bytes.len().is_multiple_of(4) {
        return Err(format!(
            "not an ONNX model: {what} holds {} bytes, not a whole number of f32",
            bytes.len()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
}

/// Reads the fields of one message in order.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    position: usize,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, position: 0 }
    }

    pub fn at_end(&self) -> bool {
        self.position >= self.bytes.len()
    }

    /// Bytes read so far: a field read between two positions spans `bytes[before..after]`.
    pub fn position(&self) -> usize {
        self.position
    }

    /// The next field (number, value), or `None` at the end of the message.
    pub fn field(&mut self) -> Result<Option<(u64, Value<'a>)>, String> {
        if self.at_end() {
            return Ok(None);
        }
        let key = self.varint()?;
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => {
                self.take(8)?;
                Value::Fixed64
            }
            2 => {
                let len = self.varint()?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.take(4)?.try_into().unwrap())),
            wire => return Err(format!("not an ONNX model: protobuf wire type {wire}")),
        };
        Ok(Some((key >> 3, value)))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], String> {
        let end = self
            .position
            .checked_add(len)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| "not an ONNX model: field runs past the end of the file".to_string())?;
        let bytes = &self.bytes[self.position..end];
        self.position = end;
        Ok(bytes)
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let &b = self
                .bytes
                .get(self.position)
                .ok_or_else(|| "not an ONNX model: truncated protobuf".to_string())?;
            self.position += 1;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("not an ONNX model: malformed varint".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_past_the_end_is_an_error_not_a_panic() {
        // Field 7, wire type 2, length 2^63.
        let bytes = [
            0x3a, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ];
        let err = Reader::new(&bytes).field().unwrap_err();
        assert!(err.contains("past the end"), "{err}");
    }

    #[test]
    fn packed_and_unpacked_repeated_fields_read_the_same() {
        let mut packed = Vec::new();
        Value::Bytes(&[0x01, 0x96, 0x01])
            .push_varints("ints", &mut packed)
            .unwrap();
        let mut single = Vec::new();
        for v in [1, 150] {
            Value::Varint(v).push_varints("ints", &mut single).unwrap();
        }
        assert_eq!(packed, vec![1, 150]);
        assert_eq!(packed, single);
    }
}

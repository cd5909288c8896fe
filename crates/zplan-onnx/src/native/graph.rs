//! The computation graph of an `.onnx` file, decoded far enough to evaluate small networks:
//! nodes with their attributes, f32 initializers (inline, or in an external data file beside the
//! model), and the graph's input and output names.
//!
//! Field numbers (onnx.proto): ModelProto 7 `graph`; GraphProto 1 `node`, 5 `initializer`,
//! 11 `input`, 12 `output`; NodeProto 1 `input`, 2 `output`, 3 `name`, 4 `op_type`,
//! 5 `attribute`, 7 `domain`; AttributeProto 1 `name`, 2 `f`, 3 `i`, 4 `s`, 5 `t`,
//! 8 `ints`; TensorProto 1 `dims`, 2 `data_type`, 4 `float_data`, 8 `name`, 9 `raw_data`,
//! 13 `external_data` (StringStringEntryProto 1 `key`, 2 `value`), 14 `data_location`;
//! ValueInfoProto 1 `name`.

use std::collections::HashMap;
use std::path::Path;

use crate::protobuf::{Reader, little_endian_f32};

/// TensorProto.DataType FLOAT.
const FLOAT: u64 = 1;
/// TensorProto.DataLocation EXTERNAL.
const EXTERNAL: u64 = 1;
/// Largest initializer read, in elements (a small network's weights are far below it).
const MAX_ELEMENTS: usize = 1 << 26;

/// A constant tensor: f32 values in row-major order, or a note of what else it holds.
#[derive(Clone, Debug)]
pub(crate) struct Tensor {
    pub dims: Vec<usize>,
    /// `None` for data types other than f32.
    pub values: Option<Vec<f32>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Attribute {
    pub name: String,
    pub float: Option<f32>,
    pub int: Option<i64>,
    pub string: Option<String>,
    pub tensor: Option<Tensor>,
    pub ints: Vec<i64>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct Node {
    pub name: String,
    pub op_type: String,
    pub domain: String,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: Vec<Attribute>,
}

impl Node {
    pub fn attribute(&self, name: &str) -> Option<&Attribute> {
        self.attributes.iter().find(|a| a.name == name)
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        self.attribute(name).and_then(|a| a.int).unwrap_or(default)
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        self.attribute(name)
            .and_then(|a| a.float)
            .unwrap_or(default)
    }

    /// The integers of attribute `name`, or `default` without it.
    pub fn ints<'a>(&'a self, name: &str, default: &'a [i64]) -> &'a [i64] {
        self.attribute(name).map_or(default, |a| &a.ints)
    }

    /// How messages name the node: its name, or its op and first output.
    pub fn label(&self) -> String {
        match (self.name.is_empty(), self.outputs.first()) {
            (false, _) => format!("`{}` ({})", self.name, self.op_type),
            (true, Some(output)) => format!("{} -> `{output}`", self.op_type),
            (true, None) => self.op_type.clone(),
        }
    }
}

/// A decoded graph. Nodes are in the file's (topological) order.
#[derive(Debug, Default)]
pub(crate) struct Graph {
    pub nodes: Vec<Node>,
    pub initializers: HashMap<String, Tensor>,
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
}

impl Graph {
    /// Reads the graph of the model `path`; external data is looked up beside it.
    pub fn read(path: &Path) -> Result<Self, String> {
        let bytes = std::fs::read(path).map_err(|e| format!("cannot read: {e}"))?;
        Self::from_bytes(&bytes, path.parent())
    }

    /// Decodes a model held in memory. `dir` is where external data files are (none: external
    /// data is an error).
    pub fn from_bytes(bytes: &[u8], dir: Option<&Path>) -> Result<Self, String> {
        let mut model = Reader::new(bytes);
        let mut graph = None;
        while let Some((field, value)) = model.field()? {
            if field == 7 {
                graph = Some(value.bytes("graph")?);
            }
        }
        let graph = graph.ok_or("not an ONNX model: no graph")?;
        let mut out = Graph::default();
        let mut reader = Reader::new(graph);
        while let Some((field, value)) = reader.field()? {
            match field {
                1 => out.nodes.push(node(value.bytes("node")?, dir)?),
                5 => {
                    let (name, tensor) = tensor(value.bytes("initializer")?, dir)?;
                    out.initializers.insert(name, tensor);
                }
                11 | 12 => {
                    let mut info = Reader::new(value.bytes("value_info")?);
                    let mut name = String::new();
                    while let Some((field, value)) = info.field()? {
                        if field == 1 {
                            name = value.string("value_info.name")?;
                        }
                    }
                    if field == 11 {
                        &mut out.inputs
                    } else {
                        &mut out.outputs
                    }
                    .push(name);
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

fn node(bytes: &[u8], dir: Option<&Path>) -> Result<Node, String> {
    let mut node = Node::default();
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.field()? {
        match field {
            1 => node.inputs.push(value.string("node.input")?),
            2 => node.outputs.push(value.string("node.output")?),
            3 => node.name = value.string("node.name")?,
            4 => node.op_type = value.string("node.op_type")?,
            5 => node
                .attributes
                .push(attribute(value.bytes("node.attribute")?, dir)?),
            7 => node.domain = value.string("node.domain")?,
            _ => {}
        }
    }
    Ok(node)
}

fn attribute(bytes: &[u8], dir: Option<&Path>) -> Result<Attribute, String> {
    let mut attribute = Attribute::default();
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.field()? {
        match field {
            1 => attribute.name = value.string("attribute.name")?,
            2 => attribute.float = Some(value.float("attribute.f")?),
            3 => attribute.int = Some(value.varint("attribute.i")? as i64),
            4 => attribute.string = Some(value.string("attribute.s")?),
            8 => value.push_varints("attribute.ints", &mut attribute.ints)?,
            5 => attribute.tensor = Some(tensor(value.bytes("attribute.t")?, dir)?.1),
            _ => {}
        }
    }
    Ok(attribute)
}

/// A TensorProto: (name, tensor).
fn tensor(bytes: &[u8], dir: Option<&Path>) -> Result<(String, Tensor), String> {
    let mut name = String::new();
    let mut dims = Vec::new();
    let mut data_type = 0;
    let mut floats = Vec::new();
    let mut raw: Option<&[u8]> = None;
    let mut external = Vec::new();
    let mut location = 0;
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.field()? {
        match field {
            1 => value.push_varints("tensor.dims", &mut dims)?,
            2 => data_type = value.varint("tensor.data_type")?,
            4 => value.push_floats("tensor.float_data", &mut floats)?,
            8 => name = value.string("tensor.name")?,
            9 => raw = Some(value.bytes("tensor.raw_data")?),
            13 => {
                let mut entry = Reader::new(value.bytes("tensor.external_data")?);
                let (mut key, mut text) = (String::new(), String::new());
                while let Some((field, value)) = entry.field()? {
                    match field {
                        1 => key = value.string("external_data.key")?,
                        2 => text = value.string("external_data.value")?,
                        _ => {}
                    }
                }
                external.push((key, text));
            }
            14 => location = value.varint("tensor.data_location")?,
            _ => {}
        }
    }
    let dims = dims
        .iter()
        .map(|&d| usize::try_from(d).map_err(|_| format!("tensor `{name}` has dimension {d}")))
        .collect::<Result<Vec<_>, _>>()?;
    let elements = dims
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n <= MAX_ELEMENTS)
        .ok_or_else(|| format!("tensor `{name}` with dimensions {dims:?} is too large"))?;
    if data_type != FLOAT {
        return Ok((name, Tensor { dims, values: None }));
    }
    let values: Vec<f32> = if location == EXTERNAL {
        external_floats(&name, &external, dir)?
    } else if let Some(raw) = raw {
        little_endian_f32(raw, &format!("tensor `{name}` raw_data"))?.collect()
    } else {
        floats
    };
    if values.len() != elements {
        return Err(format!(
            "tensor `{name}` holds {} values, its dimensions {dims:?} need {elements}",
            values.len()
        ));
    }
    Ok((
        name,
        Tensor {
            dims,
            values: Some(values),
        },
    ))
}

/// The f32 values of an externally stored tensor: `location` (a file beside the model, never
/// outside its directory), `offset` and `length` in bytes.
fn external_floats(
    name: &str,
    entries: &[(String, String)],
    dir: Option<&Path>,
) -> Result<Vec<f32>, String> {
    let get = |key: &str| entries.iter().find(|(k, _)| k == key).map(|(_, v)| v);
    let location = get("location")
        .ok_or_else(|| format!("tensor `{name}` is external but names no location"))?;
    let dir = dir.ok_or_else(|| format!("tensor `{name}` is external, in `{location}`"))?;
    let relative = Path::new(location);
    if relative.is_absolute() || relative.components().any(|c| c.as_os_str() == "..") {
        return Err(format!(
            "tensor `{name}`: external data `{location}` is outside the model's directory"
        ));
    }
    let path = dir.join(relative);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let number = |key: &str| -> Result<Option<usize>, String> {
        get(key)
            .map(|v| {
                v.parse()
                    .map_err(|_| format!("tensor `{name}`: external data {key} `{v}`"))
            })
            .transpose()
    };
    let offset = number("offset")?.unwrap_or(0);
    let length = number("length")?.unwrap_or(bytes.len().saturating_sub(offset));
    let slice = offset
        .checked_add(length)
        .and_then(|end| bytes.get(offset..end))
        .ok_or_else(|| {
            format!(
                "tensor `{name}`: bytes {offset}..+{length} run past the end of {}",
                path.display()
            )
        })?;
    Ok(little_endian_f32(slice, &format!("tensor `{name}`"))?.collect())
}

//! A model cut down to the nodes some of its outputs need.
//!
//! ONNX Runtime runs every node of a graph whatever outputs a call asks for: a dynamics network
//! that outputs its Jacobians A and B beside z_next computes them on every z_next call too
//! (three times the work for the shipped bundles). zplan therefore runs z_next-only calls on a
//! second session over the model with A and B, the nodes only they need and the initialisers
//! only those read removed.
//!
//! The model is edited in its protobuf encoding: every other field is copied byte for byte, so
//! the result is the same model (opset, metadata, the kept nodes' attributes) with fewer nodes.

use crate::protobuf::{Reader, Value};

/// `ModelProto.graph`, and the `GraphProto` fields edited.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const GRAPH_OUTPUT: u64 = 12;
/// `NodeProto.input`, `.output`, `.attribute`; `AttributeProto.g`, `.graphs`.
const NODE_INPUT: u64 = 1;
const NODE_OUTPUT: u64 = 2;
const NODE_ATTRIBUTE: u64 = 5;
const ATTRIBUTE_GRAPH: u64 = 6;
const ATTRIBUTE_GRAPHS: u64 = 11;
/// `TensorProto.name`, `.data_location` (1: external).
const TENSOR_NAME: u64 = 8;
const TENSOR_DATA_LOCATION: u64 = 14;
/// `ValueInfoProto.name`.
const VALUE_INFO_NAME: u64 = 1;

/// The model `bytes` with only the outputs `keep` and what they need; `None` when nothing would
/// be removed, or when the model cannot be cut safely here (a node with a subgraph, which may
/// read any outer value, or an initialiser in an external file, which a model held in memory
/// cannot find).
pub(crate) fn keep_outputs(bytes: &[u8], keep: &[&str]) -> Result<Option<Vec<u8>>, String> {
    let mut graph = None;
    let mut model = Reader::new(bytes);
    while let Some((field, value)) = model.field()? {
        if field == MODEL_GRAPH {
            graph = Some(value.bytes("graph")?);
        }
    }
    let graph = graph.ok_or("not an ONNX model: no graph")?;
    let Some(pruned) = pruned_graph(graph, keep)? else {
        return Ok(None);
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut model = Reader::new(bytes);
    loop {
        let start = model.position();
        let Some((field, _)) = model.field()? else {
            break;
        };
        if field == MODEL_GRAPH {
            write_bytes_field(&mut out, MODEL_GRAPH, &pruned);
        } else {
            out.extend_from_slice(&bytes[start..model.position()]);
        }
    }
    Ok(Some(out))
}

/// One node's value names, and whether it holds a subgraph.
struct NodeNames {
    inputs: Vec<String>,
    outputs: Vec<String>,
    has_subgraph: bool,
}

fn node_names(bytes: &[u8]) -> Result<NodeNames, String> {
    let mut node = NodeNames {
        inputs: Vec::new(),
        outputs: Vec::new(),
        has_subgraph: false,
    };
    let mut reader = Reader::new(bytes);
    while let Some((field, value)) = reader.field()? {
        match field {
            NODE_INPUT => node.inputs.push(value.string("node.input")?),
            NODE_OUTPUT => node.outputs.push(value.string("node.output")?),
            NODE_ATTRIBUTE => {
                let mut attribute = Reader::new(value.bytes("node.attribute")?);
                while let Some((field, _)) = attribute.field()? {
                    node.has_subgraph |= field == ATTRIBUTE_GRAPH || field == ATTRIBUTE_GRAPHS;
                }
            }
            _ => {}
        }
    }
    Ok(node)
}

/// The string field `number` of a message, if present.
fn name_field(bytes: &[u8], number: u64, what: &str) -> Result<Option<String>, String> {
    let mut reader = Reader::new(bytes);
    let mut name = None;
    while let Some((field, value)) = reader.field()? {
        if field == number {
            name = Some(value.string(what)?);
        }
    }
    Ok(name)
}

/// Whether an initialiser's data lies in an external file.
fn is_external(tensor: &[u8]) -> Result<bool, String> {
    let mut reader = Reader::new(tensor);
    while let Some((field, value)) = reader.field()? {
        if field == TENSOR_DATA_LOCATION && matches!(value, Value::Varint(1)) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The graph's encoding without the nodes, outputs and initialisers `keep` does not need.
fn pruned_graph(graph: &[u8], keep: &[&str]) -> Result<Option<Vec<u8>>, String> {
    let mut nodes = Vec::new();
    let mut reader = Reader::new(graph);
    while let Some((field, value)) = reader.field()? {
        if field == GRAPH_NODE {
            let node = node_names(value.bytes("node")?)?;
            if node.has_subgraph {
                return Ok(None);
            }
            nodes.push(node);
        }
    }
    // ONNX lists nodes in topological order: one pass from the last marks every node whose
    // outputs are needed, and its inputs as needed in turn.
    let mut needed: std::collections::HashSet<String> =
        keep.iter().map(|name| name.to_string()).collect();
    let mut kept_nodes = vec![false; nodes.len()];
    for (node, kept) in nodes.iter().zip(&mut kept_nodes).rev() {
        if node.outputs.iter().any(|o| needed.contains(o)) {
            *kept = true;
            needed.extend(node.inputs.iter().filter(|i| !i.is_empty()).cloned());
        }
    }
    if kept_nodes.iter().all(|&k| k) {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(graph.len());
    let mut reader = Reader::new(graph);
    let mut node_index = 0;
    loop {
        let start = reader.position();
        let Some((field, value)) = reader.field()? else {
            break;
        };
        let copy = match field {
            GRAPH_NODE => {
                node_index += 1;
                kept_nodes[node_index - 1]
            }
            GRAPH_OUTPUT => {
                let name = name_field(value.bytes("output")?, VALUE_INFO_NAME, "output.name")?;
                name.is_some_and(|name| keep.contains(&name.as_str()))
            }
            GRAPH_INITIALIZER => {
                let tensor = value.bytes("initializer")?;
                if is_external(tensor)? {
                    return Ok(None);
                }
                let name = name_field(tensor, TENSOR_NAME, "initializer.name")?;
                name.is_some_and(|name| needed.contains(&name))
            }
            _ => true,
        };
        if copy {
            out.extend_from_slice(&graph[start..reader.position()]);
        }
    }
    Ok(Some(out))
}

/// Appends a length-delimited field: key, length, bytes.
fn write_bytes_field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    write_varint(out, number << 3 | 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::native::graph::Graph;

    fn fixture(path: &str) -> Vec<u8> {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        std::fs::read(root.join(path)).unwrap()
    }

    #[test]
    fn a_model_cut_to_z_next_keeps_its_nodes_and_drops_the_jacobians() {
        let bytes = fixture("../../models/planar/dynamics.onnx");
        let full = Graph::from_bytes(&bytes, None).unwrap();
        let pruned = keep_outputs(&bytes, &["z_next"])
            .unwrap()
            .expect("A and B removed");
        let cut = Graph::from_bytes(&pruned, None).unwrap();
        assert_eq!(full.outputs, ["z_next", "A", "B"]);
        assert_eq!(cut.outputs, ["z_next"]);
        assert_eq!(cut.inputs, full.inputs);
        assert!(
            cut.nodes.len() < full.nodes.len() / 2,
            "{}",
            cut.nodes.len()
        );
        assert!(cut.initializers.len() < full.initializers.len());
        // Every value a kept node reads is a graph input, an initialiser or a kept node's output.
        let mut known: std::collections::HashSet<&str> =
            cut.inputs.iter().map(String::as_str).collect();
        known.extend(cut.initializers.keys().map(String::as_str));
        for node in &cut.nodes {
            for input in node.inputs.iter().filter(|i| !i.is_empty()) {
                assert!(known.contains(input.as_str()), "{input} is not defined");
            }
            known.extend(node.outputs.iter().map(String::as_str));
        }
        assert!(known.contains("z_next"));
    }

    #[test]
    fn a_model_whose_every_node_is_needed_is_left_alone() {
        let bytes = fixture("../../models/planar/dynamics.onnx");
        let all = keep_outputs(&bytes, &["z_next", "A", "B"]).unwrap();
        assert!(all.is_none());
    }

    #[test]
    fn varints_round_trip_through_the_reader() {
        for value in [0, 1, 127, 128, 300, u64::from(u32::MAX), u64::MAX] {
            let mut out = Vec::new();
            write_bytes_field(&mut out, 7, &[]);
            write_varint(&mut out, value);
            let mut reader = Reader::new(&out);
            let (field, bytes) = reader.field().unwrap().unwrap();
            assert_eq!((field, bytes.bytes("x").unwrap().len()), (7, 0));
            let mut rest = Vec::new();
            Value::Bytes(&out[2..])
                .push_varints("v", &mut rest)
                .unwrap();
            assert_eq!(rest, vec![value as i64]);
        }
    }
}

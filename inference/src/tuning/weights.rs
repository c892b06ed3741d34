//! Reading an ONNX file's weights and writing them back changed.
//!
//! Fine-tuning starts from the weights of the encoder the project serves and must end as an
//! ONNX file ONNX Runtime serves the same way, so this module reads the graph's initializers
//! (name, shape, type and bytes) and rewrites the file with some of them replaced, copying
//! every other byte as it was: the graph, its operators and attributes are never re-encoded.
//! It is a protobuf reader for the few fields of `onnx.proto3` it needs (ModelProto.graph,
//! GraphProto.initializer and node, NodeProto.op_type and attribute, AttributeProto.f,
//! TensorProto's dims, data_type, name and raw_data); everything else passes through untouched.

use std::collections::{BTreeMap, HashMap};

use crate::InferenceError;

/// Protobuf wire types.
const VARINT: u8 = 0;
const FIXED64: u8 = 1;
const LENGTH_DELIMITED: u8 = 2;
const FIXED32: u8 = 5;

/// `ModelProto.graph`, `GraphProto.node`, `GraphProto.initializer`.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
/// `NodeProto.op_type`, `NodeProto.attribute`; `AttributeProto.name`, `AttributeProto.f`.
const NODE_OP_TYPE: u64 = 4;
const NODE_ATTRIBUTE: u64 = 5;
const ATTRIBUTE_NAME: u64 = 1;
const ATTRIBUTE_FLOAT: u64 = 2;
/// `TensorProto` fields.
const TENSOR_DIMS: u64 = 1;
const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const TENSOR_NAME: u64 = 8;
const TENSOR_RAW_DATA: u64 = 9;

/// `TensorProto.DataType` values this module reads.
pub(crate) const FLOAT: i64 = 1;
pub(crate) const INT8: i64 = 3;
pub(crate) const INT64: i64 = 7;

fn bad(reason: impl Into<String>) -> InferenceError {
    InferenceError::BadInput(format!("not a readable ONNX file: {}", reason.into()))
}

/// One field of a protobuf message, borrowed from the file.
#[derive(Debug, Clone, Copy)]
struct Field<'a> {
    number: u64,
    value: Value<'a>,
    /// The whole field as written (tag included), for copying it unchanged.
    raw: &'a [u8],
}

#[derive(Debug, Clone, Copy)]
enum Value<'a> {
    Varint(u64),
    Fixed64,
    Fixed32(u32),
    Bytes(&'a [u8]),
}

fn varint(buffer: &[u8], at: &mut usize) -> Result<u64, InferenceError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buffer
            .get(*at)
            .ok_or_else(|| bad("a number runs past the end"))?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(bad("a number longer than ten bytes"))
}

fn take<'a>(buffer: &'a [u8], at: &mut usize, length: usize) -> Result<&'a [u8], InferenceError> {
    let end = at
        .checked_add(length)
        .filter(|end| *end <= buffer.len())
        .ok_or_else(|| bad("a field runs past the end"))?;
    let bytes = &buffer[*at..end];
    *at = end;
    Ok(bytes)
}

/// The fields of one message, in file order.
fn fields(buffer: &[u8]) -> Result<Vec<Field<'_>>, InferenceError> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buffer.len() {
        let start = at;
        let tag = varint(buffer, &mut at)?;
        let (number, wire) = (tag >> 3, (tag & 7) as u8);
        let value = match wire {
            VARINT => Value::Varint(varint(buffer, &mut at)?),
            FIXED64 => {
                take(buffer, &mut at, 8)?;
                Value::Fixed64
            }
            FIXED32 => {
                let bytes = take(buffer, &mut at, 4)?;
                Value::Fixed32(u32::from_le_bytes(
                    bytes.try_into().expect("four bytes were taken"),
                ))
            }
            LENGTH_DELIMITED => {
                let length = usize::try_from(varint(buffer, &mut at)?)
                    .map_err(|_| bad("a field longer than memory"))?;
                Value::Bytes(take(buffer, &mut at, length)?)
            }
            other => return Err(bad(format!("wire type {other} (groups) is not supported"))),
        };
        out.push(Field {
            number,
            value,
            raw: &buffer[start..at],
        });
    }
    Ok(out)
}

fn bytes_of<'a>(field: &Field<'a>) -> Result<&'a [u8], InferenceError> {
    match field.value {
        Value::Bytes(bytes) => Ok(bytes),
        _ => Err(bad(format!(
            "field {} is not a message or string",
            field.number
        ))),
    }
}

fn text_of(field: &Field<'_>) -> Result<String, InferenceError> {
    String::from_utf8(bytes_of(field)?.to_vec()).map_err(|_| bad("a name that is not UTF-8"))
}

/// The graph message of a model file.
fn graph(model: &[u8]) -> Result<&[u8], InferenceError> {
    let fields = fields(model)?;
    let graph = fields
        .iter()
        .find(|f| f.number == MODEL_GRAPH)
        .ok_or_else(|| bad("it has no graph"))?;
    bytes_of(graph)
}

/// One initializer of the graph.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Initializer {
    pub(crate) dims: Vec<usize>,
    pub(crate) data_type: i64,
    /// Little-endian values, as `raw_data` holds them.
    pub(crate) data: Vec<u8>,
}

impl Initializer {
    /// The values of a float tensor.
    pub(crate) fn floats(&self) -> Result<Vec<f32>, InferenceError> {
        self.values(FLOAT, "float32", f32::from_le_bytes)
    }

    /// The values of an int64 tensor.
    pub(crate) fn int64s(&self) -> Result<Vec<i64>, InferenceError> {
        self.values(INT64, "int64", i64::from_le_bytes)
    }

    /// The little-endian values of a tensor of `data_type`, `N` bytes each.
    fn values<T, const N: usize>(
        &self,
        data_type: i64,
        name: &str,
        decode: fn([u8; N]) -> T,
    ) -> Result<Vec<T>, InferenceError> {
        if self.data_type != data_type {
            return Err(bad(format!(
                "type {} where {name} was expected",
                self.data_type
            )));
        }
        Ok(self
            .data
            .chunks_exact(N)
            .map(|c| decode(c.try_into().expect("chunks of N bytes")))
            .collect())
    }

    /// Number of values.
    pub(crate) fn len(&self) -> usize {
        self.dims.iter().product()
    }
}

fn read_tensor(message: &[u8]) -> Result<(String, Initializer), InferenceError> {
    let mut name = None;
    let mut tensor = Initializer {
        dims: Vec::new(),
        data_type: 0,
        data: Vec::new(),
    };
    for field in fields(message)? {
        match (field.number, field.value) {
            (TENSOR_DIMS, Value::Varint(dim)) => tensor.dims.push(dim as usize),
            (TENSOR_DIMS, Value::Bytes(packed)) => {
                let mut at = 0;
                while at < packed.len() {
                    tensor.dims.push(varint(packed, &mut at)? as usize);
                }
            }
            (TENSOR_DATA_TYPE, Value::Varint(kind)) => tensor.data_type = kind as i64,
            (TENSOR_NAME, _) => name = Some(text_of(&field)?),
            (TENSOR_RAW_DATA, Value::Bytes(bytes)) => tensor.data = bytes.to_vec(),
            (TENSOR_FLOAT_DATA, Value::Bytes(packed)) => tensor.data = packed.to_vec(),
            (TENSOR_FLOAT_DATA, Value::Fixed32(bits)) => {
                tensor.data.extend_from_slice(&bits.to_le_bytes())
            }
            _ => {}
        }
    }
    let name = name.ok_or_else(|| bad("an initializer without a name"))?;
    let width = match tensor.data_type {
        INT8 => 1,
        FLOAT => 4,
        INT64 => 8,
        _ => 0,
    };
    if width > 0 && tensor.data.len() != tensor.len() * width {
        return Err(bad(format!(
            "initializer `{name}` holds {} bytes for {:?} values (external data is not read)",
            tensor.data.len(),
            tensor.dims
        )));
    }
    Ok((name, tensor))
}

/// The graph's initializers by name, and the `epsilon` of its first LayerNormalization node.
pub(crate) fn read(
    model: &[u8],
) -> Result<(BTreeMap<String, Initializer>, Option<f32>), InferenceError> {
    let mut initializers = BTreeMap::new();
    let mut epsilon = None;
    for field in fields(graph(model)?)? {
        match field.number {
            GRAPH_INITIALIZER => {
                let (name, tensor) = read_tensor(bytes_of(&field)?)?;
                initializers.insert(name, tensor);
            }
            GRAPH_NODE if epsilon.is_none() => epsilon = layer_norm_epsilon(bytes_of(&field)?)?,
            _ => {}
        }
    }
    Ok((initializers, epsilon))
}

fn layer_norm_epsilon(node: &[u8]) -> Result<Option<f32>, InferenceError> {
    let fields = fields(node)?;
    let is_norm = fields.iter().any(|f| {
        f.number == NODE_OP_TYPE && matches!(f.value, Value::Bytes(b"LayerNormalization"))
    });
    if !is_norm {
        return Ok(None);
    }
    for attribute in fields.iter().filter(|f| f.number == NODE_ATTRIBUTE) {
        let attribute = fields_of(attribute)?;
        let named = attribute
            .iter()
            .any(|f| f.number == ATTRIBUTE_NAME && matches!(f.value, Value::Bytes(b"epsilon")));
        if let (true, Some(Value::Fixed32(bits))) = (
            named,
            attribute
                .iter()
                .find(|f| f.number == ATTRIBUTE_FLOAT)
                .map(|f| f.value),
        ) {
            return Ok(Some(f32::from_bits(bits)));
        }
    }
    // ONNX's default.
    Ok(Some(1e-5))
}

fn fields_of<'a>(field: &Field<'a>) -> Result<Vec<Field<'a>>, InferenceError> {
    fields(bytes_of(field)?)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn put_bytes(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    put_varint(out, (number << 3) | u64::from(LENGTH_DELIMITED));
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `model` with the float initializers named in `replacements` holding new values (each the
/// same number of values as before); every other byte of the file is copied as it was.
pub(crate) fn rewrite(
    model: &[u8],
    replacements: &HashMap<String, Vec<f32>>,
) -> Result<Vec<u8>, InferenceError> {
    let mut replaced = 0;
    let mut graph_out = Vec::with_capacity(model.len());
    for field in fields(graph(model)?)? {
        if field.number != GRAPH_INITIALIZER {
            graph_out.extend_from_slice(field.raw);
            continue;
        }
        let message = bytes_of(&field)?;
        let (name, tensor) = read_tensor(message)?;
        let Some(values) = replacements.get(&name) else {
            graph_out.extend_from_slice(field.raw);
            continue;
        };
        if tensor.data_type != FLOAT || tensor.len() != values.len() {
            return Err(bad(format!(
                "`{name}` is a {:?} tensor of type {}, the new one {} floats",
                tensor.dims,
                tensor.data_type,
                values.len()
            )));
        }
        let mut tensor_out = Vec::with_capacity(message.len());
        for part in fields(message)? {
            if part.number != TENSOR_RAW_DATA && part.number != TENSOR_FLOAT_DATA {
                tensor_out.extend_from_slice(part.raw);
            }
        }
        let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        put_bytes(&mut tensor_out, TENSOR_RAW_DATA, &raw);
        put_bytes(&mut graph_out, GRAPH_INITIALIZER, &tensor_out);
        replaced += 1;
    }
    if replaced != replacements.len() {
        return Err(bad(format!(
            "{} of the {} tensors to replace are not in the graph",
            replacements.len() - replaced,
            replacements.len()
        )));
    }
    let mut out = Vec::with_capacity(model.len());
    for field in fields(model)? {
        if field.number == MODEL_GRAPH {
            put_bytes(&mut out, MODEL_GRAPH, &graph_out);
        } else {
            out.extend_from_slice(field.raw);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::onnx::logistic_scorer;

    #[test]
    fn a_written_scorer_reads_back_and_rewrites_only_what_was_asked() {
        let model = logistic_scorer(&[0.5, -1.0, 2.0], 0.25, "features", "score", "test");
        let (initializers, epsilon) = read(&model).expect("our own file reads");
        assert_eq!(epsilon, None, "a scorer has no layer norm");
        assert_eq!(initializers["weights"].dims, vec![3, 1]);
        assert_eq!(
            initializers["weights"].floats().unwrap(),
            vec![0.5, -1.0, 2.0]
        );
        let changed = HashMap::from([("weights".to_owned(), vec![1.0, 2.0, 3.0])]);
        let (after, _) = read(&rewrite(&model, &changed).unwrap()).unwrap();
        assert_eq!(after["weights"].floats().unwrap(), vec![1.0, 2.0, 3.0]);
        assert_eq!(after["weights"].dims, vec![3, 1]);
        assert_eq!(after["bias"], initializers["bias"], "the bias changed");
        // Nothing to replace: the same bytes.
        assert_eq!(rewrite(&model, &HashMap::new()).unwrap(), model);
    }

    #[test]
    fn damaged_files_and_wrong_replacements_are_refused() {
        let model = logistic_scorer(&[0.5, -1.0], 0.0, "features", "score", "test");
        for cut in [1, model.len() / 2, model.len() - 1] {
            assert!(read(&model[..cut]).is_err(), "a file cut at {cut} was read");
        }
        let unknown = HashMap::from([("no such tensor".to_owned(), vec![1.0])]);
        assert!(rewrite(&model, &unknown).is_err());
        let wrong_size = HashMap::from([("weights".to_owned(), vec![1.0; 3])]);
        assert!(rewrite(&model, &wrong_size).is_err());
    }
}

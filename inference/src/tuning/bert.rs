//! The encoder of `scripts/convert-e5.py` in candle, so it can be trained.
//!
//! The same computation as the converted ONNX graph, operator for operator: 4-bit word
//! embeddings dequantized for the rows a batch looks up, positions from 0, token type 0, a
//! layer norm; then post-LN layers (self-attention with an additive −10000 mask bias, erf GELU
//! feed-forward). The layers' matrices and biases are candle `Var`s, the parameters
//! fine-tuning changes; the embeddings stay frozen (250k word rows would need gradients and
//! optimiser state of a gigabyte, for words a small labelled set barely touches). The weights
//! keep the graph's names (`l3.fi.wt`), so writing them back is a lookup.

use std::collections::{BTreeMap, HashMap};

use candle_core::{D, DType, Device, Tensor, Var};

use super::weights::{INT8, Initializer};
use crate::InferenceError;

/// Values sharing one scale in the word-embedding table.
const BLOCK: usize = 32;

pub(crate) fn candle_error(error: candle_core::Error) -> InferenceError {
    InferenceError::BadInput(format!("tensor arithmetic failed: {error}"))
}

fn missing(name: &str) -> InferenceError {
    InferenceError::BadInput(format!(
        "the model has no initializer `{name}`: fine-tuning knows the encoder graph of \
         scripts/convert-e5.py (multilingual-e5-small)"
    ))
}

/// The linear maps of one layer, by their graph names.
const LINEARS: [&str; 6] = ["q", "k", "v", "ao", "fi", "fo"];
/// The layer norms of one layer.
const NORMS: [&str; 2] = ["aln", "oln"];

pub(crate) struct Encoder {
    device: Device,
    hidden: usize,
    heads: usize,
    epsilon: f64,
    vocabulary: usize,
    word_values: Vec<i8>,
    word_scales: Vec<f32>,
    positions: Tensor,
    token_type: Tensor,
    embedding_norm: (Tensor, Tensor),
    /// Every trained parameter by its graph name.
    parameters: BTreeMap<String, Var>,
    layers: usize,
}

impl Encoder {
    /// The encoder held by `initializers` (read from the converted ONNX file).
    pub(crate) fn new(
        initializers: &BTreeMap<String, Initializer>,
        epsilon: f32,
    ) -> Result<Self, InferenceError> {
        let device = Device::Cpu;
        let get = |name: &str| initializers.get(name).ok_or_else(|| missing(name));
        let tensor = |name: &str| -> Result<Tensor, InferenceError> {
            let init = get(name)?;
            Tensor::from_vec(init.floats()?, init.dims.as_slice(), &device).map_err(candle_error)
        };
        let words = get("emb.word.q")?;
        let scales = get("emb.word.scale")?;
        if words.data_type != INT8 || words.dims.len() != 2 || words.dims[1] % BLOCK != 0 {
            return Err(missing("emb.word.q (int8 [vocabulary, hidden])"));
        }
        let (vocabulary, hidden) = (words.dims[0], words.dims[1]);
        let word_scales = scales.floats()?;
        if word_scales.len() != vocabulary * hidden / BLOCK {
            return Err(missing("emb.word.scale ([vocabulary, hidden / 32])"));
        }
        let head_shape = get("c.heads")?.int64s()?;
        let heads = usize::try_from(head_shape.get(2).copied().unwrap_or(0))
            .ok()
            .filter(|h| *h > 0 && hidden % h == 0)
            .ok_or_else(|| missing("c.heads ([0, 0, heads, head width])"))?;
        let mut parameters = BTreeMap::new();
        let mut layers = 0;
        while initializers.contains_key(&format!("l{layers}.q.wt")) {
            for linear in LINEARS {
                for part in ["wt", "b"] {
                    let name = format!("l{layers}.{linear}.{part}");
                    let var = Var::from_tensor(&tensor(&name)?).map_err(candle_error)?;
                    parameters.insert(name, var);
                }
            }
            for norm in NORMS {
                for part in ["w", "b"] {
                    let name = format!("l{layers}.{norm}.{part}");
                    let var = Var::from_tensor(&tensor(&name)?).map_err(candle_error)?;
                    parameters.insert(name, var);
                }
            }
            layers += 1;
        }
        if layers == 0 {
            return Err(missing("l0.q.wt"));
        }
        Ok(Self {
            hidden,
            heads,
            epsilon: f64::from(epsilon),
            vocabulary,
            word_values: words.data.iter().map(|b| *b as i8).collect(),
            word_scales,
            positions: tensor("emb.pos")?,
            token_type: tensor("emb.type0")?,
            embedding_norm: (tensor("emb.ln.w")?, tensor("emb.ln.b")?),
            parameters,
            layers,
            device,
        })
    }

    /// The trained parameters, for the optimiser.
    pub(crate) fn variables(&self) -> Vec<Var> {
        self.parameters.values().cloned().collect()
    }

    /// The trained parameters' values by graph name, to write back to the ONNX file.
    pub(crate) fn values(&self) -> Result<HashMap<String, Vec<f32>>, InferenceError> {
        self.parameters
            .iter()
            .map(|(name, var)| {
                let values = var
                    .as_tensor()
                    .flatten_all()
                    .and_then(|t| t.to_vec1::<f32>())
                    .map_err(candle_error)?;
                Ok((name.clone(), values))
            })
            .collect()
    }

    /// Replaces the trained parameters' values (a snapshot taken by [`Encoder::values`]).
    pub(crate) fn restore(&self, values: &HashMap<String, Vec<f32>>) -> Result<(), InferenceError> {
        for (name, var) in &self.parameters {
            let saved = values.get(name).ok_or_else(|| missing(name))?;
            let tensor =
                Tensor::from_vec(saved.clone(), var.shape(), &self.device).map_err(candle_error)?;
            var.set(&tensor).map_err(candle_error)?;
        }
        Ok(())
    }

    pub(crate) fn hidden(&self) -> usize {
        self.hidden
    }

    pub(crate) fn device(&self) -> &Device {
        &self.device
    }

    fn parameter(&self, name: &str) -> Result<&Tensor, InferenceError> {
        self.parameters
            .get(name)
            .map(Var::as_tensor)
            .ok_or_else(|| missing(name))
    }

    /// The input embeddings of a padded batch `[batch, length, hidden]`, dequantized here: the
    /// table is frozen, so no gradient needs to reach it.
    fn word_embeddings(&self, ids: &[Vec<u32>], length: usize) -> Result<Tensor, InferenceError> {
        let hidden = self.hidden;
        let mut values = Vec::with_capacity(ids.len() * length * hidden);
        for row in ids {
            for &id in row {
                let id = id as usize;
                if id >= self.vocabulary {
                    return Err(InferenceError::BadInput(format!(
                        "token id {id} is outside the vocabulary of {}",
                        self.vocabulary
                    )));
                }
                let start = id * hidden;
                let scales = &self.word_scales[start / BLOCK..(start + hidden) / BLOCK];
                values.extend(
                    self.word_values[start..start + hidden]
                        .iter()
                        .enumerate()
                        .map(|(j, q)| f32::from(*q) * scales[j / BLOCK]),
                );
            }
        }
        Tensor::from_vec(values, (ids.len(), length, hidden), &self.device).map_err(candle_error)
    }

    fn layer_norm(
        &self,
        x: &Tensor,
        weight: &Tensor,
        bias: &Tensor,
    ) -> candle_core::Result<Tensor> {
        let mean = x.mean_keepdim(D::Minus1)?;
        let centred = x.broadcast_sub(&mean)?;
        let variance = centred.sqr()?.mean_keepdim(D::Minus1)?;
        let normed = centred.broadcast_div(&(variance + self.epsilon)?.sqrt()?)?;
        normed.broadcast_mul(weight)?.broadcast_add(bias)
    }

    /// The residual step of a post-LN layer: `LayerNorm(x + y)` with the norm named `norm`.
    fn add_and_norm(&self, x: &Tensor, y: &Tensor, norm: &str) -> Result<Tensor, InferenceError> {
        let weight = self.parameter(&format!("{norm}.w"))?;
        let bias = self.parameter(&format!("{norm}.b"))?;
        (x + y)
            .and_then(|sum| self.layer_norm(&sum, weight, bias))
            .map_err(candle_error)
    }

    fn linear(&self, x: &Tensor, prefix: &str) -> Result<Tensor, InferenceError> {
        let (weight, bias) = (
            self.parameter(&format!("{prefix}.wt"))?,
            self.parameter(&format!("{prefix}.b"))?,
        );
        let (batch, length, width) = x.dims3().map_err(candle_error)?;
        let out = weight.dim(1).map_err(candle_error)?;
        x.reshape((batch * length, width))
            .and_then(|x| x.matmul(weight))
            .and_then(|x| x.broadcast_add(bias))
            .and_then(|x| x.reshape((batch, length, out)))
            .map_err(candle_error)
    }

    fn split_heads(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let (batch, length, _) = x.dims3()?;
        x.reshape((batch, length, self.heads, self.hidden / self.heads))?
            .transpose(1, 2)?
            .contiguous()
    }

    /// Token states `[batch, length, hidden]` of padded token ids and their attention mask
    /// (1 for a token, 0 for padding); with `dropout`, the training-time dropout on each
    /// sub-layer's output.
    pub(crate) fn forward(
        &self,
        ids: &[Vec<u32>],
        mask: &Tensor,
        dropout: Option<f32>,
    ) -> Result<Tensor, InferenceError> {
        let length = ids.first().map_or(0, Vec::len);
        if length > self.positions.dim(0).map_err(candle_error)? {
            return Err(InferenceError::BadInput(format!(
                "{length} tokens is too long"
            )));
        }
        let drop = |x: Tensor| -> candle_core::Result<Tensor> {
            match dropout {
                Some(p) if p > 0.0 => candle_nn::ops::dropout(&x, p),
                _ => Ok(x),
            }
        };
        let words = self.word_embeddings(ids, length)?;
        let embedded = (|| {
            let summed = words
                .broadcast_add(&self.positions.narrow(0, 0, length)?)?
                .broadcast_add(&self.token_type)?;
            self.layer_norm(&summed, &self.embedding_norm.0, &self.embedding_norm.1)
        })()
        .map_err(candle_error)?;
        let batch = ids.len();
        let bias = (|| {
            let inverse = (mask.to_dtype(DType::F32)?.neg()? + 1.0)?;
            (inverse * -1e4)?.reshape((batch, 1, 1, length))
        })()
        .map_err(candle_error)?;
        let scale = 1.0 / ((self.hidden / self.heads) as f64).sqrt();
        let mut x = drop(embedded).map_err(candle_error)?;
        for layer in 0..self.layers {
            let p = format!("l{layer}");
            let q = self.linear(&x, &format!("{p}.q"))?;
            let k = self.linear(&x, &format!("{p}.k"))?;
            let v = self.linear(&x, &format!("{p}.v"))?;
            let context = (|| {
                let (q, k, v) = (
                    self.split_heads(&q)?,
                    self.split_heads(&k)?,
                    self.split_heads(&v)?,
                );
                let scores =
                    (q.matmul(&k.transpose(2, 3)?.contiguous()?)? * scale)?.broadcast_add(&bias)?;
                let attention = candle_nn::ops::softmax(&scores, D::Minus1)?;
                attention
                    .matmul(&v)?
                    .transpose(1, 2)?
                    .contiguous()?
                    .reshape((batch, length, self.hidden))
            })()
            .map_err(candle_error)?;
            let attended =
                drop(self.linear(&context, &format!("{p}.ao"))?).map_err(candle_error)?;
            x = self.add_and_norm(&x, &attended, &format!("{p}.aln"))?;
            let inner = self
                .linear(&x, &format!("{p}.fi"))?
                .gelu_erf()
                .map_err(candle_error)?;
            let fed = drop(self.linear(&inner, &format!("{p}.fo"))?).map_err(candle_error)?;
            x = self.add_and_norm(&x, &fed, &format!("{p}.oln"))?;
        }
        Ok(x)
    }

    /// Sentence vectors `[batch, hidden]`: token states mean-pooled over the mask, then
    /// L2-normalised, as the served model's caller does.
    pub(crate) fn embed(
        &self,
        ids: &[Vec<u32>],
        mask: &Tensor,
        dropout: Option<f32>,
    ) -> Result<Tensor, InferenceError> {
        let states = self.forward(ids, mask, dropout)?;
        (|| {
            let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
            let summed = states.broadcast_mul(&mask)?.sum(1)?;
            let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
            let mean = summed.broadcast_div(&counts)?;
            let norm = mean.sqr()?.sum_keepdim(1)?.sqrt()?.clamp(1e-12, f64::MAX)?;
            mean.broadcast_div(&norm)
        })()
        .map_err(candle_error)
    }
}

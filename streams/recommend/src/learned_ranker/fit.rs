//! Fitting the learned ranker: a logistic regression over the ranker's columns
//! ([`super::FEATURES`]), and its ONNX file.

use serde::Serialize;

use super::FEATURES;

/// A fitted logistic regression over [`FEATURES`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LinearRanker {
    /// One weight per feature.
    pub weights: Vec<f32>,
    /// The intercept.
    pub bias: f32,
}

impl LinearRanker {
    /// The logit of one row (the ONNX graph adds the sigmoid, which keeps the order).
    pub fn logit(&self, row: &[f32]) -> f32 {
        row.iter()
            .zip(&self.weights)
            .map(|(x, w)| x * w)
            .sum::<f32>()
            + self.bias
    }

    /// The model as an ONNX file with the manifest's contract.
    pub fn to_onnx(&self, input: &str, output: &str) -> Vec<u8> {
        let doc = format!(
            "finpulse recommender ranker: sigmoid(features . w + b) over {}",
            FEATURES.join(", ")
        );
        finpulse_inference::onnx::logistic_scorer(&self.weights, self.bias, input, output, &doc)
    }
}

/// Logistic regression by full-batch gradient descent with L2, positives weighted up to
/// balance the classes (a few positives among many candidates). Columns are standardized for
/// the descent (a signal that varies little, such as a cross term, would otherwise barely move
/// in the epochs given, and L2 would weigh columns by their scale), and the weights are mapped
/// back so the model reads the raw columns the contract defines.
pub fn fit_logistic(rows: &[f32], labels: &[bool], l2: f32, epochs: usize) -> LinearRanker {
    let width = FEATURES.len();
    let count = (rows.len() / width).max(1) as f64;
    let mut mean = vec![0f64; width];
    for row in rows.chunks(width) {
        for (m, x) in mean.iter_mut().zip(row) {
            *m += f64::from(*x) / count;
        }
    }
    let mut variance = vec![0f64; width];
    for row in rows.chunks(width) {
        for ((v, x), m) in variance.iter_mut().zip(row).zip(&mean) {
            *v += (f64::from(*x) - m).powi(2) / count;
        }
    }
    // A column that does not vary (no signal in this history, e.g. no prices) is left out of
    // the descent and gets weight 0.
    let scale: Vec<Option<f64>> = variance
        .iter()
        .zip(&mean)
        .map(|(v, m)| (v.sqrt() > 1e-4 * m.abs().max(1.0)).then(|| v.sqrt()))
        .collect();
    let standardized: Vec<f32> = rows
        .chunks(width)
        .flat_map(|row| {
            row.iter()
                .zip(&mean)
                .zip(&scale)
                .map(|((x, m), s)| s.map_or(0.0, |s| ((f64::from(*x) - m) / s) as f32))
                .collect::<Vec<_>>()
        })
        .collect();
    let fitted = descend(&standardized, labels, l2, epochs, width);
    let weights: Vec<f32> = fitted
        .weights
        .iter()
        .zip(&scale)
        .map(|(w, s)| s.map_or(0.0, |s| (f64::from(*w) / s) as f32))
        .collect();
    let shift: f64 = weights
        .iter()
        .zip(&mean)
        .map(|(w, m)| f64::from(*w) * m)
        .sum();
    let bias = (f64::from(fitted.bias) - shift) as f32;
    LinearRanker { weights, bias }
}

fn descend(rows: &[f32], labels: &[bool], l2: f32, epochs: usize, width: usize) -> LinearRanker {
    let n = labels.len().max(1) as f32;
    let positives = labels.iter().filter(|l| **l).count().max(1) as f32;
    let positive_weight = ((n - positives) / positives).max(1.0);
    let mut weights = vec![0f32; width];
    let mut bias = 0f32;
    let rate = 0.5;
    for _ in 0..epochs {
        let mut gradient = vec![0f32; width];
        let mut gradient_bias = 0f32;
        let mut total_weight = 0f32;
        for (row, &label) in rows.chunks(width).zip(labels) {
            let z: f32 = row.iter().zip(&weights).map(|(x, w)| x * w).sum::<f32>() + bias;
            let p = 1.0 / (1.0 + (-z).exp());
            let weight = if label { positive_weight } else { 1.0 };
            let error = weight * (p - f32::from(u8::from(label)));
            for (g, x) in gradient.iter_mut().zip(row) {
                *g += error * x;
            }
            gradient_bias += error;
            total_weight += weight;
        }
        let scale = 1.0 / total_weight.max(1.0);
        for (w, g) in weights.iter_mut().zip(&gradient) {
            *w -= rate * (g * scale + l2 * *w);
        }
        bias -= rate * gradient_bias * scale;
    }
    LinearRanker { weights, bias }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_regression_learns_which_signal_predicts() {
        // Label = the first feature above 0.6; the others are noise.
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for n in 0..600u32 {
            let noise = |k: u32| ((n * 7919 + k * 104_729) % 1000) as f32 / 1000.0;
            let signal = noise(0);
            rows.extend([
                signal,
                noise(1),
                noise(2),
                noise(3),
                noise(4),
                noise(5),
                noise(6),
                noise(7),
            ]);
            labels.push(signal > 0.6);
        }
        let ranker = fit_logistic(&rows, &labels, 1e-4, 600);
        let strongest = ranker
            .weights
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
            .unwrap()
            .0;
        assert_eq!(strongest, 0, "{ranker:?}");
        assert!(ranker.weights[0] > 0.0);
        let correct = rows
            .chunks(FEATURES.len())
            .zip(&labels)
            .filter(|(row, label)| (ranker.logit(row) > 0.0) == **label)
            .count();
        assert!(correct > 540, "{correct} of 600");
    }

    #[test]
    fn a_constant_column_gets_no_weight() {
        let mut rows = Vec::new();
        let mut labels = Vec::new();
        for n in 0..400u32 {
            let signal = (n % 10) as f32 / 10.0;
            rows.extend([signal, 0.5, 0.5, 0.0, 0.0, 0.5, 0.5, 0.5]);
            labels.push(signal > 0.6);
        }
        let ranker = fit_logistic(&rows, &labels, 1e-3, 300);
        assert!(ranker.weights[0] > 1.0, "{ranker:?}");
        assert!(ranker.weights[1..].iter().all(|w| *w == 0.0), "{ranker:?}");
        assert!(ranker.bias.is_finite());
    }
}

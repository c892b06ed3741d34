//! Training the embedding head: multinomial logistic regression, full-batch Adam on the
//! cross-entropy with an L2 penalty, early-stopped on a validation set when one is given.

use ndarray::{Array1, Array2, Axis, Zip};

use super::{CHECK_EVERY, Classifier, softmax};

impl Classifier {
    /// Full-batch Adam on the cross-entropy with an L2 penalty, for `epochs` passes. With
    /// `validation`, the weights of the pass with the lowest validation cross-entropy are kept
    /// (early stopping, looking every few passes); returns that pass and loss (without
    /// validation: the last pass, and an infinite loss).
    pub(super) fn fit(
        &mut self,
        train: &[(&[f32], usize)],
        epochs: usize,
        l2: f32,
        learning_rate: f32,
        validation: Option<&[(&[f32], usize)]>,
    ) -> (usize, f32) {
        let (classes, dimension) = (self.labels.len(), self.dimension);
        let matrix = |set: &[(&[f32], usize)]| {
            Array2::from_shape_fn((set.len(), dimension), |(i, j)| set[i].0[j])
        };
        let x = matrix(train);
        let mut w = Array2::from_shape_vec((classes, dimension), self.weights.clone())
            .expect("weights fit the labels and dimension");
        let mut b = Array1::from_vec(self.bias.clone());
        let (mut mw, mut vw) = (Array2::<f32>::zeros(w.dim()), Array2::<f32>::zeros(w.dim()));
        let (mut mb, mut vb) = (Array1::<f32>::zeros(classes), Array1::<f32>::zeros(classes));
        let (beta1, beta2, epsilon) = (0.9f32, 0.999f32, 1e-8f32);
        let n = train.len().max(1) as f32;
        let validation = validation.map(|set| (matrix(set), set));
        let mut best = (epochs, f32::INFINITY, w.clone(), b.clone());
        for epoch in 1..=epochs {
            let mut p = x.dot(&w.t()) + &b;
            for (mut row, (_, y)) in p.axis_iter_mut(Axis(0)).zip(train) {
                softmax(row.as_slice_mut().expect("rows are contiguous"));
                row[*y] -= 1.0;
            }
            let gw = p.t().dot(&x) / n + &(&w * l2);
            let gb = p.sum_axis(Axis(0)) / n;
            let (correction1, correction2) = (
                1.0 - beta1.powi(epoch as i32),
                1.0 - beta2.powi(epoch as i32),
            );
            let adam = |param: &mut f32, m: &mut f32, v: &mut f32, g: &f32| {
                *m = beta1 * *m + (1.0 - beta1) * g;
                *v = beta2 * *v + (1.0 - beta2) * g * g;
                *param -=
                    learning_rate * (*m / correction1) / ((*v / correction2).sqrt() + epsilon);
            };
            Zip::from(&mut w)
                .and(&mut mw)
                .and(&mut vw)
                .and(&gw)
                .for_each(&adam);
            Zip::from(&mut b)
                .and(&mut mb)
                .and(&mut vb)
                .and(&gb)
                .for_each(adam);
            if let Some((xv, set)) = &validation
                && (epoch % CHECK_EVERY == 0 || epoch == epochs)
            {
                let mut pv = xv.dot(&w.t()) + &b;
                let mut loss = 0.0f32;
                for (mut row, (_, y)) in pv.axis_iter_mut(Axis(0)).zip(set.iter()) {
                    softmax(row.as_slice_mut().expect("rows are contiguous"));
                    loss -= row[*y].max(1e-12).ln();
                }
                let loss = loss / set.len().max(1) as f32;
                if loss < best.1 {
                    best = (epoch, loss, w.clone(), b.clone());
                }
            }
        }
        if validation.is_some() {
            (w, b) = (best.2, best.3);
        }
        self.weights = w.into_raw_vec_and_offset().0;
        self.bias = b.into_raw_vec_and_offset().0;
        match validation {
            Some(_) => (best.0, best.1),
            None => (epochs, f32::INFINITY),
        }
    }
}

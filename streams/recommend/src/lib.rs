//! The recommender domain: what each customer should look at next.
//!
//! - [`models`]: the collaborative models (EASE, implicit ALS with conjugate gradient) and the
//!   popularity baseline, all on one [`models::Interactions`] matrix; the production scorer is
//!   [`models::Cf`], which picks the model for the catalogue's size.
//! - [`eval`]: `finpulse eval recommender`, the offline evaluation on MovieLens-style files, run
//!   on the same model code the live recommender serves.
//!
//! Nothing here does network IO; the gateway reads the files and starts the processors.

pub mod error;
pub mod eval;
pub mod models;

pub use error::RecommendError;

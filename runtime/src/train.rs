//! The training loop, evaluation and generation, with Keras' semantics: stateless layers
//! start every batch from zero; stateful layers carry slot i's state from batch to batch
//! until a reset; the state is reset after every epoch (if the plan says so). Evaluation
//! starts from the carried state (zero after a reset) and resets it after; generation and
//! single predictions start from zero.

use std::fmt;
use std::time::Instant;

use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

use crate::controls::{PlateauState, Update};
use crate::data::{Affine, Batch, Dataset, Encoding, Scaler, MARKER, PAD};
use crate::model::{Carried, Model, Workspace};
use crate::optimizer::OptimizerState;
use crate::plan::{EvalPlan, FramePlan, LayerPlan, Plan, SourcePlan, Split};
use crate::trace::{Recorder, Recording, Trace};
pub use evaluation::{
    EvaluatedDraw, EvaluatedSample, Evaluation, Part, PartErrors, PartLoss, Score, SeriesSample,
};
use parts::{lines_parts, series_parts, text_parts};

/// One epoch's figures, averaged over its targets as Keras reports them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct EpochStats {
    pub epoch: usize,
    pub loss: f64,
    /// Categorical accuracy; a regression has none.
    pub accuracy: Option<f64>,
    /// The loss on the validation part after the epoch, when there is one.
    pub val_loss: Option<f64>,
    /// Its accuracy, or a regression's root mean squared error in the data's units.
    pub val_metric: Option<f64>,
    /// The learning rate a plateau schedule lowered to at the end of the epoch.
    pub reduced_lr: Option<f64>,
    pub seconds: f64,
}

/// Training produced a loss that is not a finite number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotFinite {
    pub epoch: usize,
    pub batch: usize,
}

impl fmt::Display for NotFinite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the loss became NaN or infinite in epoch {}, batch {}",
            self.epoch, self.batch
        )
    }
}

/// A plan being run: the model, its data, and the workspaces for its batch sizes.
pub struct Trainer {
    plan: Plan,
    pub model: Model,
    update: Update,
    data: Dataset,
    /// A series' validation and test parts, framed and scaled as its training part.
    held_out: Vec<(Part, Dataset)>,
    scaler: Scaler,
    /// The validation part and the runners that score it after every epoch.
    validation: Option<(Dataset, Runners)>,
    best: Option<Best>,
    /// The weights training had reached when early stopping put the best epoch's back at its
    /// end: what a checkpoint holds, so that a run given more epochs goes on from them, as an
    /// unbroken run does (it puts the best back only at its own end).
    reached: Option<Vec<Vec<f32>>>,
    encoding: Encoding,
    runners: Runners,
    order: Vec<usize>,
    /// Epochs trained so far, counting those before a resumed checkpoint.
    epochs_done: usize,
    /// What evaluation and generation record of the state, once asked to.
    recorder: Option<Recorder>,
}

/// What a checkpoint holds besides the weights: enough to continue bit for bit.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainState {
    pub epoch: usize,
    /// Every parameter tensor's values, in the model's order, as training reached them (not
    /// the best epoch's that early stopping puts back at the end): the sidecar is a whole
    /// checkpoint even when the weight file beside it is from an earlier epoch.
    pub params: Vec<Vec<f32>>,
    /// The optimizer's step count and slots.
    pub optimizer: OptimizerState,
    /// The state each recurrent layer starts its next batch from.
    pub carried: Carried,
    /// Early stopping's record, when the plan stops early.
    pub best: Option<Best>,
    /// A plateau schedule's record, when the plan has one.
    pub plateau: Option<PlateauState>,
}

/// The epoch with the lowest validation loss so far, and the parameters it ended with.
#[derive(Clone, Debug, PartialEq)]
pub struct Best {
    pub epoch: usize,
    pub val_loss: f64,
    pub params: Vec<Vec<f32>>,
    /// Whether training stopped for want of improvement (and the best parameters were
    /// restored).
    pub stopped: bool,
}

/// A workspace and the batch buffer that feeds it.
struct Runner {
    workspace: Workspace,
    batch: Batch,
}

impl Runner {
    fn new(model: &Model, rows: usize, encoding: Encoding, target_steps: usize) -> Runner {
        Runner {
            workspace: Workspace::new(model, rows, encoding),
            batch: Batch::new(rows, encoding, target_steps),
        }
    }
}

/// The full batch size, and the last partial batch of a stateless run when the samples do
/// not divide evenly.
struct Runners {
    full: Runner,
    partial: Option<Runner>,
}

impl Runners {
    /// Runners for `samples` in batches of `batch`: the full batch, and a partial last one
    /// when the batch does not divide them.
    fn for_samples(
        model: &Model,
        encoding: Encoding,
        batch: usize,
        samples: usize,
        target_steps: usize,
    ) -> Runners {
        let rows = batch.min(samples).max(1);
        Runners {
            full: Runner::new(model, rows, encoding, target_steps),
            partial: (!samples.is_multiple_of(rows))
                .then(|| Runner::new(model, samples % rows, encoding, target_steps)),
        }
    }

    fn for_rows(&mut self, rows: usize) -> &mut Runner {
        match &mut self.partial {
            Some(partial) if rows == partial.batch.rows => partial,
            _ => &mut self.full,
        }
    }

    /// One training step on the samples `ids` of `data`: encode them, forward, backward,
    /// the update (clipping, the optimizer's), and carry the stateful layers' state to the
    /// next batch. Returns the batch's summed loss; a loss that is not finite stops the step
    /// before backward.
    fn train(
        &mut self,
        model: &mut Model,
        update: &mut Update,
        data: &Dataset,
        encoding: Encoding,
        ids: &[usize],
        noise: u64,
    ) -> f64 {
        let runner = self.for_rows(ids.len());
        runner.batch.fill(data, ids, encoding);
        let loss = runner
            .workspace
            .forward_training(model, &runner.batch, noise);
        if loss.is_finite() {
            runner.workspace.backward(model, &runner.batch);
            update.apply(&mut model.tensors);
            runner.workspace.carry_state();
        }
        loss
    }

    fn reset_state(&mut self) {
        self.full.workspace.reset_state();
    }

    /// Predicts every sample of `data` in order, the state carried from batch to batch;
    /// writes the predicted classes and returns how many targets were right and their summed
    /// loss.
    /// `trace`, when given, records the first rows' state (`stateful` says whether it
    /// carries from batch to batch).
    fn predict(
        &mut self,
        model: &Model,
        encoding: Encoding,
        data: &Dataset,
        predicted: &mut [u32],
        mut recording: Option<Recording>,
    ) -> (usize, f64) {
        let target_steps = data.target_steps;
        let (mut correct, mut loss) = (0, 0.0);
        let ids: Vec<usize> = (0..data.samples()).collect();
        for chunk in ids.chunks(self.full.batch.rows) {
            let runner = self.for_rows(chunk.len());
            runner.batch.fill(data, chunk, encoding);
            loss += runner.workspace.forward(model, &runner.batch);
            if let Some(recording) = recording.as_mut() {
                recording.batch(&runner.workspace, data, chunk);
            }
            runner.workspace.carry_state();
            correct += count_correct(&runner.workspace.probs, &runner.batch.targets);
            let classes = runner.workspace.probs.len() / runner.batch.targets.len();
            for (position, probs) in runner.workspace.probs.chunks(classes).enumerate() {
                let (step, row) = (position / chunk.len(), position % chunk.len());
                predicted[chunk[row] * target_steps + step] = argmax(probs) as u32;
            }
        }
        (correct, loss)
    }
}

/// Independent streams, so that adding a draw in one never shifts the others.
const DATA_STREAM: u64 = 0x5851_f42d_4c95_7f2d;
const SHUFFLE_STREAM: u64 = 0x1405_7b7e_f767_814f;
const SHOW_STREAM: u64 = 0x2545_f491_4f6c_dd1d;
const SAMPLE_STREAM: u64 = 0xd6e8_feb8_6659_fd93;
const EVAL_STREAM: u64 = 0x9e37_79b9_7f4a_7c15;
const SPLIT_STREAM: u64 = 0x4cf5_ad43_2745_937f;
const NOISE_STREAM: u64 = 0x2127_599b_f432_5c37;

/// The random stream for `purpose` at `index` (an epoch, an evaluation draw): derived from the
/// seed alone, so a run resumed at any epoch draws what an unbroken run draws.
fn stream(seed: u64, purpose: u64, index: usize) -> Pcg64Mcg {
    let mut z = seed ^ purpose ^ (index as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    // splitmix64's finaliser, so nearby seeds and indices give unrelated streams.
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    Pcg64Mcg::seed_from_u64(z ^ (z >> 31))
}

impl Trainer {
    /// Initialises the model and draws the first data, all from the plan's seed.
    pub fn new(plan: &Plan) -> Trainer {
        let seed = plan.train.seed;
        let model = Model::new(plan, &mut Pcg64Mcg::seed_from_u64(seed));
        let (data, held_out, scaler) = match plan.data.source {
            SourcePlan::Series { .. } => series_parts(&plan.data, seed),
            SourcePlan::Text { .. } => text_parts(&plan.data, plan.train.batch),
            SourcePlan::Lines { .. } => lines_parts(&plan.data, seed),
            _ => {
                let mut data = Dataset::new(&plan.data);
                data.draw(&plan.data, &mut stream(seed, DATA_STREAM, 0));
                (data, Vec::new(), Scaler::fit(&plan.data, &[]))
            }
        };
        let encoding = Encoding::new(&plan.data, plan.steps, plan.features);
        let samples = data.samples();
        let runners = Runners::for_samples(
            &model,
            encoding,
            plan.train.batch,
            samples,
            data.target_steps,
        );
        let validation = held_out
            .iter()
            .find(|(part, _)| *part == Part::Validation)
            .map(|(_, data)| {
                let runners = Runners::for_samples(
                    &model,
                    encoding,
                    plan.train.batch,
                    data.samples(),
                    data.target_steps,
                );
                (data.clone(), runners)
            });
        Trainer {
            plan: plan.clone(),
            update: Update::new(&plan.train, &model.tensors),
            model,
            data,
            validation,
            held_out,
            scaler,
            best: None,
            reached: None,
            encoding,
            runners,
            order: (0..samples).collect(),
            epochs_done: 0,
            recorder: None,
        }
    }

    /// Training's state after the epochs done so far, for a checkpoint.
    pub fn state(&self) -> TrainState {
        TrainState {
            epoch: self.epochs_done,
            params: match &self.reached {
                Some(reached) => reached.clone(),
                None => self.model.tensors.iter().map(|t| t.value.clone()).collect(),
            },
            optimizer: self.update.optimizer.state().clone(),
            carried: self.runners.full.workspace.carried_state(),
            best: self.best.clone(),
            plateau: self.update.rate.plateau(),
        }
    }

    /// Continues from a checkpoint's state, its parameters included. A checkpoint at or past
    /// the plan's epochs, or stopped early, leaves nothing to train: the run only evaluates,
    /// with early stopping's best weights put back as the run that saved it did.
    pub fn resume(&mut self, state: TrainState) -> Result<(), String> {
        self.model.set_values(state.params)?;
        self.update.optimizer.restore(state.optimizer)?;
        self.update.rate.restore(state.plateau)?;
        self.runners
            .full
            .workspace
            .set_carried_state(state.carried)?;
        if let Some(best) = &state.best {
            self.check_best(best, state.epoch)?;
        }
        self.epochs_done = state.epoch;
        self.best = state.best;
        let stopped = self.best.as_ref().is_some_and(|best| best.stopped);
        if stopped || self.epochs_done >= self.plan.train.epochs {
            self.put_back_best();
        }
        Ok(())
    }

    /// A checkpoint's early-stopping record must fit the model and come from its past.
    fn check_best(&self, best: &Best, epoch: usize) -> Result<(), String> {
        let fits = best.params.len() == self.model.tensors.len()
            && best
                .params
                .iter()
                .zip(&self.model.tensors)
                .all(|(saved, tensor)| saved.len() == tensor.value.len());
        if !fits {
            return Err("its early-stopping record does not fit this model".into());
        }
        if best.epoch > epoch || best.val_loss.is_nan() {
            return Err(format!(
                "its early-stopping record (best epoch {}, loss {}) cannot come from a run at epoch {epoch}",
                best.epoch, best.val_loss
            ));
        }
        Ok(())
    }

    /// The learning rate of the next update.
    pub fn learning_rate(&self) -> f64 {
        self.update.lr()
    }

    /// Early stopping's record so far.
    pub fn best(&self) -> Option<&Best> {
        self.best.as_ref()
    }

    /// Trains the next epoch; `None` once the plan's epochs are done.
    pub fn next_epoch(&mut self) -> Option<Result<EpochStats, NotFinite>> {
        let stopped = self.best.as_ref().is_some_and(|best| best.stopped);
        if self.epochs_done >= self.plan.train.epochs || stopped {
            return None;
        }
        let epoch = self.epochs_done + 1;
        let start = Instant::now();
        if self.plan.data.fresh && epoch > 1 {
            self.data.draw(
                &self.plan.data,
                &mut stream(self.plan.train.seed, DATA_STREAM, epoch),
            );
        }
        let (loss, accuracy) = match self.epoch(epoch) {
            Ok(figures) => figures,
            Err(not_finite) => return Some(Err(not_finite)),
        };
        if self.plan.train.reset_each_epoch {
            self.runners.reset_state();
        }
        self.epochs_done = epoch;
        let validation = self.validate();
        let mut reduced_lr = None;
        if let Some((val_loss, _)) = validation {
            self.track_best(epoch, val_loss);
            reduced_lr = self.update.rate.end_epoch(val_loss);
        }
        Some(Ok(EpochStats {
            epoch,
            loss,
            accuracy,
            val_loss: validation.map(|(loss, _)| loss),
            val_metric: validation.map(|(_, metric)| metric),
            reduced_lr,
            seconds: start.elapsed().as_secs_f64(),
        }))
    }

    /// The mean loss over the validation part and its metric (accuracy, or a regression's
    /// root mean squared error in the data's units), in order from a zero state, a stateful
    /// layer's state carried from batch to batch as in training.
    fn validate(&mut self) -> Option<(f64, f64)> {
        let (data, runners) = self.validation.as_mut()?;
        runners.reset_state();
        let classes = self.model.loss.is_classes();
        let (mut loss, mut targets, mut metric) = (0.0, 0, 0.0);
        for start in (0..data.samples()).step_by(runners.full.batch.rows) {
            let end = (start + runners.full.batch.rows).min(data.samples());
            let runner = runners.for_rows(end - start);
            runner.batch.fill_range(data, start..end, self.encoding);
            loss += runner.workspace.forward(&self.model, &runner.batch);
            runner.workspace.carry_state();
            let (probs, batch) = (&runner.workspace.probs, &runner.batch);
            if classes {
                metric += count_correct(probs, &batch.targets) as f64;
                targets += counted(&batch.targets);
            } else {
                metric += squared_error(probs, &batch.values, &self.scaler.targets);
                targets += batch.values.len();
            }
        }
        let metric = match classes {
            true => metric / targets as f64,
            false => (metric / targets as f64).sqrt(),
        };
        Some((loss / targets as f64, metric))
    }

    /// Keras' early stopping: an epoch improves on the best by more than `min_delta` (a NaN
    /// loss never does); after `patience` epochs that do not, training stops. Either way the
    /// weights end as the best epoch's (Keras 3's `restore_best_weights`). The best weights
    /// are copied into one buffer, kept from the first improvement on.
    fn track_best(&mut self, epoch: usize, val_loss: f64) {
        let Some(early) = self.plan.train.early_stop else {
            return;
        };
        let tensors = &mut self.model.tensors;
        let last_epoch = epoch >= self.plan.train.epochs;
        match &mut self.best {
            Some(best) if !improves(val_loss, best.val_loss, early.min_delta) => {
                best.stopped = epoch - best.epoch >= early.patience;
                if best.stopped || last_epoch {
                    self.put_back_best();
                }
            }
            Some(best) => {
                (best.epoch, best.val_loss) = (epoch, val_loss);
                for (saved, tensor) in best.params.iter_mut().zip(tensors.iter()) {
                    saved.copy_from_slice(&tensor.value);
                }
            }
            None if val_loss.is_nan() => {}
            None => {
                self.best = Some(Best {
                    epoch,
                    val_loss,
                    params: tensors.iter().map(|t| t.value.clone()).collect(),
                    stopped: false,
                })
            }
        }
    }

    /// Puts early stopping's best weights back into the model, keeping those training reached
    /// for a checkpoint (`reached`).
    fn put_back_best(&mut self) {
        let Some(best) = &self.best else {
            return;
        };
        let tensors = &mut self.model.tensors;
        self.reached = Some(tensors.iter().map(|t| t.value.clone()).collect());
        for (tensor, saved) in tensors.iter_mut().zip(&best.params) {
            tensor.value.copy_from_slice(saved);
        }
    }

    /// One training step, the one each epoch runs for each of its batches, on the samples
    /// `ids` of the current data, as many as a full batch holds or as the last partial batch
    /// does (anything else panics). Returns the batch's summed loss; a NaN or infinite loss
    /// leaves the model untouched.
    pub fn step(&mut self, ids: &[usize]) -> f64 {
        let noise = self.noise();
        self.runners.train(
            &mut self.model,
            &mut self.update,
            &self.data,
            self.encoding,
            ids,
            noise,
        )
    }

    /// The seed of what the next training step draws (dropout's masks): from the run's seed
    /// and the optimizer's step count, so a resumed checkpoint draws what an unbroken run
    /// draws.
    fn noise(&self) -> u64 {
        let step = self.update.optimizer.step() as usize;
        stream(self.plan.train.seed, NOISE_STREAM, step).random()
    }

    /// Trains the remaining epochs, calling `on_epoch` after each.
    pub fn train(&mut self, mut on_epoch: impl FnMut(EpochStats)) -> Result<(), NotFinite> {
        while let Some(stats) = self.next_epoch() {
            on_epoch(stats?);
        }
        Ok(())
    }

    fn epoch(&mut self, epoch: usize) -> Result<(f64, Option<f64>), NotFinite> {
        // A fresh permutation each epoch, as Keras draws one, from the epoch's own stream.
        for (position, id) in self.order.iter_mut().enumerate() {
            *id = position;
        }
        if self.plan.train.shuffle {
            self.order
                .shuffle(&mut stream(self.plan.train.seed, SHUFFLE_STREAM, epoch));
        }
        let (mut loss, mut correct, mut targets) = (0.0, 0, 0);
        for (index, ids) in self.order.chunks(self.runners.full.batch.rows).enumerate() {
            let noise = self.noise();
            let batch_loss = self.runners.train(
                &mut self.model,
                &mut self.update,
                &self.data,
                self.encoding,
                ids,
                noise,
            );
            if !batch_loss.is_finite() {
                return Err(NotFinite {
                    epoch,
                    batch: index + 1,
                });
            }
            let runner = self.runners.for_rows(ids.len());
            loss += batch_loss;
            if self.model.loss.is_classes() {
                correct += count_correct(&runner.workspace.probs, &runner.batch.targets);
                targets += counted(&runner.batch.targets);
            } else {
                targets += runner.batch.values.len();
            }
        }
        let accuracy = (self.model.loss.is_classes()).then(|| correct as f64 / targets as f64);
        Ok((loss / targets as f64, accuracy))
    }

    /// Scores the model on the plan's evaluation data. As Keras evaluates, stateful layers
    /// start from the state training left them in when the plan never resets it, and from
    /// zero (before each draw) when it resets after every epoch; the state is reset after.
    pub fn evaluate(&mut self) -> Evaluation {
        let evaluation = self.evaluate_data();
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.finish_evaluation();
        }
        evaluation
    }

    /// `evaluate` but for ending the recording of the first evaluation.
    fn evaluate_data(&mut self) -> Evaluation {
        if self.data.is_series() {
            return self.evaluate_series();
        }
        if let SourcePlan::Text { .. } | SourcePlan::Lines { .. } = self.plan.data.source {
            return self.evaluate_text();
        }
        let draws = match self.plan.eval {
            EvalPlan::Train => {
                self.reset_for_evaluation();
                vec![self.evaluate_draw(self.data.clone())]
            }
            EvalPlan::Fresh { draws } => (0..draws)
                .map(|draw| {
                    let mut data = Dataset::new(&self.plan.data);
                    let mut rng = stream(self.plan.train.seed, EVAL_STREAM, draw);
                    data.draw(&self.plan.data, &mut rng);
                    self.reset_for_evaluation();
                    self.evaluate_draw(data)
                })
                .collect(),
        };
        self.runners.reset_state();
        let correct: usize = draws.iter().map(|(_, correct)| correct).sum();
        let draws: Vec<EvaluatedDraw> = draws.into_iter().map(|(draw, _)| draw).collect();
        let targets: usize = draws.iter().map(|draw| draw.predicted.len()).sum();
        Evaluation {
            score: Score::Accuracy(correct as f64 / targets as f64),
            draws,
        }
    }

    /// The training part and the held-out ones, in order, for a whole evaluation.
    fn parts(&self) -> Vec<(Part, Dataset)> {
        let mut parts = vec![(Part::Train, self.data.clone())];
        parts.extend(self.held_out.iter().cloned());
        parts
    }

    /// A regression's errors on each part of its series, in the data's units. Each part is
    /// predicted in order from a zero state, at the training batch size.
    fn evaluate_series(&mut self) -> Evaluation {
        let parts = self.parts();
        let (errors, draws) = parts
            .into_iter()
            .filter(|(_, data)| data.samples() > 0)
            .map(|(part, data)| {
                let (errors, values) = self.part_errors(part, &data);
                let draw = EvaluatedDraw {
                    data,
                    predicted: Vec::new(),
                    series: Some((part, values)),
                };
                (errors, draw)
            })
            .unzip();
        Evaluation {
            score: Score::Errors(errors),
            draws,
        }
    }

    /// A language model's loss and accuracy on each part of its text, each part's streams
    /// read in order from a zero state.
    fn evaluate_text(&mut self) -> Evaluation {
        let parts = self.parts();
        let stateful = self.is_stateful();
        let (losses, draws) = parts
            .into_iter()
            .map(|(part, data)| {
                let samples = data.samples();
                let mut runners = Runners::for_samples(
                    &self.model,
                    self.encoding,
                    self.plan.train.batch,
                    samples,
                    data.target_steps,
                );
                let mut predicted = vec![0; samples * data.target_steps];
                let recording = self.recorder.as_mut().and_then(|r| r.evaluation(stateful));
                let (correct, loss) =
                    runners.predict(&self.model, self.encoding, &data, &mut predicted, recording);
                self.passed(samples);
                let targets = data.counted_targets() as f64;
                let figures = PartLoss {
                    part,
                    loss: loss / targets,
                    accuracy: correct as f64 / targets,
                };
                let draw = EvaluatedDraw {
                    data,
                    predicted,
                    series: None,
                };
                (figures, draw)
            })
            .unzip();
        Evaluation {
            score: Score::Language(losses),
            draws,
        }
    }

    /// A part's errors in the data's units, and its predictions, scaled.
    fn part_errors(&mut self, part: Part, data: &Dataset) -> (PartErrors, Vec<f32>) {
        let samples = data.samples();
        let mut runners = Runners::for_samples(
            &self.model,
            self.encoding,
            self.plan.train.batch,
            samples,
            data.target_steps,
        );
        let (mut squared, mut absolute, mut count) = (0.0, 0.0, 0);
        let stateful = self.is_stateful();
        let mut recording = self.recorder.as_mut().and_then(|r| r.evaluation(stateful));
        let mut predictions = Vec::with_capacity(samples * self.encoding.outputs);
        let ids: Vec<usize> = (0..samples).collect();
        for chunk in ids.chunks(runners.full.batch.rows) {
            let runner = runners.for_rows(chunk.len());
            runner.batch.fill(data, chunk, self.encoding);
            runner.workspace.forward(&self.model, &runner.batch);
            if let Some(recording) = recording.as_mut() {
                recording.batch(&runner.workspace, data, chunk);
            }
            predictions.extend_from_slice(&runner.workspace.probs);
            let outputs = self.encoding.outputs;
            let pairs = runner.workspace.probs.iter().zip(&runner.batch.values);
            for (index, (&predicted, &target)) in pairs.enumerate() {
                let scale = &self.scaler.targets[index % outputs % self.scaler.targets.len()];
                let error = f64::from(scale.undo(predicted)) - f64::from(scale.undo(target));
                squared += error * error;
                absolute += error.abs();
                count += 1;
            }
        }
        self.passed(samples);
        let errors = PartErrors {
            part,
            rmse: (squared / count as f64).sqrt(),
            mae: absolute / count as f64,
        };
        (errors, predictions)
    }

    fn reset_for_evaluation(&mut self) {
        if self.plan.train.reset_each_epoch {
            self.runners.reset_state();
        }
    }

    /// Predicts every sample of `data`; returns the draw and how many targets were right.
    fn evaluate_draw(&mut self, data: Dataset) -> (EvaluatedDraw, usize) {
        let mut predicted = vec![0; data.samples() * data.target_steps];
        let stateful = self.is_stateful();
        let recording = self.recorder.as_mut().and_then(|r| r.evaluation(stateful));
        let (correct, _) =
            self.runners
                .predict(&self.model, self.encoding, &data, &mut predicted, recording);
        self.passed(data.samples());
        let draw = EvaluatedDraw {
            data,
            predicted,
            series: None,
        };
        (draw, correct)
    }

    /// The class probabilities `[target_steps, classes]` for one input sample of symbols
    /// (padding included), from a zero state.
    pub fn predict_one(&mut self, input: &[u32]) -> Vec<f32> {
        let mut runner = Runner::new(&self.model, 1, self.encoding, self.data.target_steps);
        runner.batch.fill_one(input, self.encoding);
        runner.workspace.forward(&self.model, &runner.batch);
        runner.workspace.probs.clone()
    }

    /// A series' predicted target vector `[out, targets]` for one window `[window, inputs]` of
    /// rows, both in the data's units: scaled as training scaled them, predicted from a zero
    /// state, and scaled back.
    pub fn predict_values(&mut self, window: &[f32]) -> Vec<f32> {
        let mut runner = Runner::new(&self.model, 1, self.encoding, 1);
        let inputs = &self.scaler.inputs;
        let scaled: Vec<f32> = window
            .iter()
            .enumerate()
            .map(|(index, &value)| inputs[index % inputs.len()].apply(value))
            .collect();
        runner.batch.fill_one_values(&scaled, self.encoding);
        runner.workspace.forward(&self.model, &runner.batch);
        let targets = &self.scaler.targets;
        runner
            .workspace
            .probs
            .iter()
            .enumerate()
            .map(|(index, &value)| targets[index % targets.len()].undo(value))
            .collect()
    }

    /// Records the recurrent layers' state from now on: the first evaluated draw's (or
    /// part's) first rows, and every generation, for `recorded` to hand over.
    pub fn record_state(&mut self) {
        self.recorder = Some(Recorder::default());
    }

    /// What was recorded since `record_state`, in the order it ran.
    pub fn recorded(&mut self) -> Vec<Trace> {
        self.recorder
            .as_mut()
            .map_or_else(Vec::new, |recorder| std::mem::take(&mut recorder.traces))
    }

    /// Tells the recorder a draw (or part) of `samples` was evaluated.
    fn passed(&mut self, samples: usize) {
        if let Some(recorder) = self.recorder.as_mut() {
            recorder.passed(samples);
        }
    }

    /// Whether a layer carries its state from batch to batch.
    fn is_stateful(&self) -> bool {
        self.plan.layers.iter().any(|layer| match layer {
            LayerPlan::Lstm(settings) | LayerPlan::Gru(settings) => settings.stateful,
            _ => false,
        })
    }

    /// The epochs trained so far (a resumed checkpoint's included) and the plan's.
    pub fn epochs(&self) -> (usize, usize) {
        (self.epochs_done, self.plan.train.epochs)
    }

    /// The seed the run draws from: a random split's parts depend on it.
    pub fn seed(&self) -> u64 {
        self.plan.train.seed
    }

    /// Whether the data's parts depend on the seed (a random split), so that weights trained
    /// with one seed are evaluated on their own test part only with the same seed.
    pub fn split_depends_on_seed(&self) -> bool {
        matches!(self.plan.data.split, Some(Split::Random { .. }))
    }

    /// A text's characters, in the order of their symbols, for the weight file.
    pub fn vocabulary(&self) -> Option<&[char]> {
        match &self.plan.data.source {
            SourcePlan::Text { vocabulary, .. } | SourcePlan::Lines { vocabulary, .. } => {
                Some(vocabulary)
            }
            _ => None,
        }
    }

    /// The scaling fitted on the training rows, for the weight file.
    pub fn scaler(&self) -> &Scaler {
        &self.scaler
    }

    /// Checks that a saved model's scaling is the one this spec's training rows give: a
    /// model predicts in the units it was trained in, so data that changed since is refused
    /// rather than silently scaled another way.
    pub fn check_scaler(&self, saved: &Scaler) -> Result<(), String> {
        if *saved != self.scaler {
            return Err(
                "its scaling differs from the one this spec's training rows give: the \
                 data, `scale=`, `missing=` or the split changed since it was saved"
                    .into(),
            );
        }
        Ok(())
    }

    /// Seeds with `from` and feeds each prediction back as the next input for `steps`
    /// steps, the state carried from one to the next; returns `(input, predicted)` pairs.
    pub fn generate(&mut self, from: u32, steps: usize) -> Vec<(u32, u32)> {
        let mut runner = Runner::new(&self.model, 1, self.encoding, 1);
        let mut symbol = from;
        let mut pairs = Vec::with_capacity(steps);
        let stateful = self.is_stateful();
        let mut trace = self.recorder.as_mut().map(|r| r.generation(from));
        for _ in 0..steps {
            runner.batch.fill_one(&[symbol], self.encoding);
            runner.workspace.forward(&self.model, &runner.batch);
            runner.workspace.carry_state();
            let next = argmax(&runner.workspace.probs) as u32;
            if let Some(trace) = trace.as_mut() {
                trace.record_step(&runner.workspace, symbol, next, stateful);
            }
            pairs.push((symbol, next));
            symbol = next;
        }
        pairs
    }

    /// Reads `prime` one symbol at a time, then draws `length` more, each from the softmax
    /// sharpened by `temperature` and cut to its `top_k` most likely symbols (all when 0), and
    /// fed back as the next input; the state is carried from symbol to symbol throughout.
    /// The draws come from a stream of `seed` alone, so the same seed samples the same text.
    /// `prime` holds at least one symbol: the first draw needs something read.
    pub fn sample(&mut self, prime: &[u32], request: SampleRequest) -> Vec<u32> {
        let one_step = Encoding {
            steps: 1,
            ..self.encoding
        };
        let mut runner = Runner::new(&self.model, 1, one_step, 1);
        let read = |runner: &mut Runner, symbol: u32| {
            runner.batch.fill_one(&[symbol], one_step);
            runner.workspace.forward(&self.model, &runner.batch);
            runner.workspace.carry_state();
        };
        for &symbol in prime {
            read(&mut runner, symbol);
        }
        let mut rng = stream(request.seed, SAMPLE_STREAM, 0);
        let mut ranked = Vec::with_capacity(self.encoding.classes);
        let mut drawn = Vec::with_capacity(request.length);
        while drawn.len() < request.length {
            let choice = draw(&runner.workspace.probs, request, &mut ranked, &mut rng);
            drawn.push(choice);
            read(&mut runner, choice);
        }
        drawn
    }
}

impl Trainer {
    /// `count` items of a lines source drawn whole: each from a zero state, the start marker
    /// read first, then symbols drawn (as `sample` draws them) and read back until the end
    /// marker or the longest item the frame holds. The markers are left out.
    pub fn sample_items(&mut self, count: usize, request: SampleRequest) -> Vec<Vec<u32>> {
        let FramePlan::Items { steps } = self.plan.data.frame else {
            unreachable!("the checker samples items from lines only")
        };
        let one_step = Encoding {
            steps: 1,
            ..self.encoding
        };
        let mut runner = Runner::new(&self.model, 1, one_step, 1);
        let mut rng = stream(request.seed, SAMPLE_STREAM, 0);
        let mut ranked = Vec::with_capacity(self.encoding.classes);
        let mut items = Vec::with_capacity(count);
        for _ in 0..count {
            runner.workspace.reset_state();
            let mut item = Vec::new();
            let mut symbol = MARKER;
            while item.len() < steps - 1 {
                runner.batch.fill_one(&[symbol], one_step);
                runner.workspace.forward(&self.model, &runner.batch);
                runner.workspace.carry_every_state();
                symbol = draw(&runner.workspace.probs, request, &mut ranked, &mut rng);
                if symbol == MARKER {
                    break;
                }
                item.push(symbol);
            }
            items.push(item);
        }
        items
    }

    /// Every item of a lines source, training or held out, for telling drawn ones that are
    /// new (not a line of the file) from those that are not.
    pub fn items(&self) -> &[Vec<u32>] {
        match &self.plan.data.source {
            SourcePlan::Lines { items, .. } => items,
            _ => &[],
        }
    }
}

/// How `Trainer::sample` draws.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SampleRequest {
    pub length: usize,
    pub temperature: f64,
    pub top_k: usize,
    pub seed: u64,
}

/// One symbol drawn from `probs`: each probability raised to `1 / temperature` (a lower
/// temperature sharpens the choice), only the `top_k` largest kept when `top_k` is not 0.
fn draw(probs: &[f32], request: SampleRequest, ranked: &mut Vec<usize>, rng: &mut Pcg64Mcg) -> u32 {
    ranked.clear();
    ranked.extend(0..probs.len());
    // Stable, so that ties keep the vocabulary's order and a seed draws the same everywhere.
    ranked.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]));
    if request.top_k > 0 {
        ranked.truncate(request.top_k);
    }
    // Relative to the most likely symbol, whose weight is 1: a low temperature sends the
    // others towards 0 without the most likely one underflowing with them.
    let top = f64::from(probs[ranked[0]]);
    let weight = |index: usize| (f64::from(probs[index]) / top).powf(1.0 / request.temperature);
    let total: f64 = ranked.iter().map(|&index| weight(index)).sum();
    let mut left = rng.random::<f64>() * total;
    for &index in ranked.iter() {
        left -= weight(index);
        if left < 0.0 {
            return index as u32;
        }
    }
    // Rounding can leave a sliver past the last weight: the most likely symbol takes it.
    ranked[0] as u32
}

/// The summed squared error of scaled predictions against scaled targets, both back in the
/// data's units: target value `i` of a row belongs to column `i % columns`.
fn squared_error(predicted: &[f32], targets: &[f32], columns: &[Affine]) -> f64 {
    predicted
        .iter()
        .zip(targets)
        .enumerate()
        .map(|(index, (&p, &t))| {
            let scale = &columns[index % columns.len()];
            (f64::from(scale.undo(p)) - f64::from(scale.undo(t))).powi(2)
        })
        .sum()
}

/// Whether a validation loss beats the best by more than `min_delta`; a NaN never does.
fn improves(val_loss: f64, best: f64, min_delta: f64) -> bool {
    val_loss < best - min_delta
}

/// The index of the largest value, the first on ties.
pub fn argmax(values: &[f32]) -> usize {
    let mut best = 0;
    for (index, &value) in values.iter().enumerate() {
        if value > values[best] {
            best = index;
        }
    }
    best
}

/// Targets whose class has the highest probability, as Keras' categorical accuracy counts.
/// Padding targets (`PAD`, the loss kernel's `IGNORE`) are left out, as they are of the loss.
fn count_correct(probs: &[f32], targets: &[u32]) -> usize {
    let classes = probs.len() / targets.len();
    probs
        .chunks(classes)
        .zip(targets)
        .filter(|(row, &target)| target != PAD && argmax(row) == target as usize)
        .count()
}

/// The targets that count: all but padding.
pub fn counted(targets: &[u32]) -> usize {
    targets.iter().filter(|&&target| target != PAD).count()
}

mod evaluation;
mod parts;
#[cfg(test)]
mod tests;

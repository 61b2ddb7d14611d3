//! Lowering: a checked spec to the runtime's `Plan`, with every size resolved and every span
//! dropped.

use runtime::plan::{
    self, Column, DataPlan, EarlyStop as EarlyStopPlan, EvalPlan, FramePlan, LayerPlan,
    Loss as LossPlan, Plan, SampleRequest, Scale as ScalePlan, ShowPlan, SourcePlan, Split,
    TrainPlan,
};

use crate::graph::{sample_rows, split_counts, Checked};
use crate::load;
use crate::spec::{
    Activation, Cell, Encode, EvalOn, Frame, LayerKind, Layout, Loss, Merge, Order, Pad, Reset,
    Scale, ShowItem, Source, Spec,
};

/// The plan for a spec that passed every check. Sizes fit in `usize`: the memory bound
/// refused anything larger.
pub fn lower(spec: &Spec, checked: &Checked) -> Plan {
    Plan {
        name: spec.model.name.value.clone(),
        steps: spec.model.input.steps.value as usize,
        features: spec.model.input.features.value as usize,
        layers: lower_layers(spec),
        data: lower_data(spec, checked),
        train: lower_train(spec, checked),
        eval: match spec.eval.on.value {
            EvalOn::Train => EvalPlan::Train,
            EvalOn::Fresh { draws } => EvalPlan::Fresh {
                draws: draws as usize,
            },
        },
        show: spec
            .show
            .items
            .iter()
            .map(|item| lower_show(&item.value, &spec.data.source.value, checked))
            .collect(),
    }
}

/// The layers; the last one's softmax or, under binary cross-entropy, its sigmoid is left
/// to the loss, which fuses it.
fn lower_layers(spec: &Spec) -> Vec<LayerPlan> {
    let mut layers: Vec<LayerPlan> = spec
        .model
        .layers
        .iter()
        .map(|layer| lower_layer(&layer.kind))
        .collect();
    if let (Loss::BinaryCrossEntropy, Some(LayerPlan::Dense(last))) =
        (spec.train.loss.value, layers.last_mut())
    {
        last.activation = plan::Activation::Linear;
    }
    layers
}

fn lower_layer(kind: &LayerKind) -> LayerPlan {
    match kind {
        LayerKind::Recurrent {
            cell,
            units,
            stateful,
            sequences,
            bidirectional,
            dropout,
            recurrent_dropout,
        } => {
            let recurrent = plan::Recurrent {
                units: units.value as usize,
                stateful: stateful.is_some(),
                sequences: sequences.is_some(),
                dropout: *dropout,
                recurrent_dropout: *recurrent_dropout,
            };
            match (cell, bidirectional) {
                (_, Some(merge)) => LayerPlan::Bidirectional(plan::Bidirectional {
                    cell: match cell {
                        Cell::Lstm => plan::Cell::Lstm,
                        Cell::Gru => plan::Cell::Gru,
                    },
                    layer: recurrent,
                    merge: match merge.value {
                        Merge::Concat => plan::Merge::Concat,
                        Merge::Sum => plan::Merge::Sum,
                        Merge::Mul => plan::Merge::Mul,
                        Merge::Ave => plan::Merge::Ave,
                    },
                }),
                (Cell::Lstm, None) => LayerPlan::Lstm(recurrent),
                (Cell::Gru, None) => LayerPlan::Gru(recurrent),
            }
        }
        LayerKind::Embedding { units } => LayerPlan::Embedding(plan::Embedding {
            units: units.value as usize,
        }),
        LayerKind::Dropout { rate } => LayerPlan::Dropout(plan::Dropout { rate: rate.value }),
        LayerKind::Repeat { times } => LayerPlan::Repeat(plan::Repeat {
            times: times.value as usize,
        }),
        LayerKind::Dense {
            units,
            per_step,
            activation,
        } => LayerPlan::Dense(plan::Dense {
            units: units.value as usize,
            per_step: per_step.is_some(),
            activation: match activation.as_ref().map(|a| a.value) {
                // The loss applies softmax, fused with cross-entropy.
                None | Some(Activation::Softmax) => plan::Activation::Linear,
                Some(Activation::Relu) => plan::Activation::Relu,
                Some(Activation::Tanh) => plan::Activation::Tanh,
                Some(Activation::Sigmoid) => plan::Activation::Sigmoid,
            },
        }),
    }
}

fn lower_data(spec: &Spec, checked: &Checked) -> DataPlan {
    let data = &spec.data;
    let source = match &data.source.value {
        Source::Lines { .. } => {
            let lines = checked.lines.as_ref().expect("the checker read the lines");
            SourcePlan::Lines {
                vocabulary: lines.vocabulary.clone(),
                items: lines.items.clone(),
            }
        }
        Source::Text { .. } => {
            let text = checked.text.as_ref().expect("the checker read the text");
            SourcePlan::Text {
                vocabulary: text.vocabulary.clone(),
                ids: text.ids.clone(),
            }
        }
        Source::Csv(_) => {
            let series = checked
                .series
                .as_ref()
                .expect("the checker read the series");
            SourcePlan::Series {
                inputs: series.inputs.iter().map(lower_column).collect(),
                targets: series.targets.iter().map(lower_column).collect(),
            }
        }
        Source::Alphabet { letters } => SourcePlan::Alphabet {
            letters: letters.clone(),
        },
        Source::RandomInts { lo, hi, length } => SourcePlan::RandomInts {
            lo: *lo,
            hi: *hi,
            length: *length as usize,
        },
    };
    let frame = match data.frame.value {
        Frame::Windows { size } => FramePlan::Windows {
            size: size as usize,
        },
        Frame::Runs {
            count,
            max_len,
            pad,
            mask,
        } => FramePlan::Runs {
            count: count as usize,
            max_len: max_len as usize,
            pad_before: pad == Pad::Pre,
            mask,
        },
        Frame::Lag {
            steps_in,
            steps_out,
        } => FramePlan::Lag {
            steps_in: steps_in as usize,
            steps_out: steps_out as usize,
        },
        Frame::Pick { index } => FramePlan::Pick {
            index: index as usize,
        },
        Frame::Streams { steps } => FramePlan::Streams {
            steps: steps as usize,
        },
        Frame::Items => FramePlan::Items {
            steps: checked.framed.steps as usize,
        },
        Frame::Forecast { window, ahead, out } => FramePlan::Forecast {
            window: window as usize,
            ahead: ahead as usize,
            out: out as usize,
        },
    };
    let split = data.split.as_ref().map(|split| {
        // A series is split by rows (or samples); a text by characters.
        let [train, val, _] = match (&checked.series, &checked.text, &data.frame.value) {
            (Some(series), _, Frame::Forecast { window, ahead, out }) => {
                let needed = sample_rows(*window, *ahead, *out);
                split_counts(data, series.rows() as u64, needed)
            }
            (_, Some(text), _) => split_counts(data, text.ids.len() as u64, 1),
            (_, _, Frame::Items) => {
                let lines = checked.lines.as_ref().expect("the checker read the lines");
                split_counts(data, lines.items.len() as u64, 1)
            }
            _ => unreachable!("the checker splits series and texts only"),
        };
        let (train, val) = (train as usize, val as usize);
        match split.value.random {
            true => Split::Random {
                train_samples: train,
                val_samples: val,
            },
            false => Split::Ordered {
                train_rows: train,
                val_rows: val,
            },
        }
    });
    DataPlan {
        source,
        frame,
        one_hot: data
            .encode
            .as_ref()
            .is_some_and(|e| e.value == Encode::OneHot),
        ids: data.encode.as_ref().is_some_and(|e| e.value == Encode::Ids),
        as_features: data.layout.value == Layout::Features,
        fresh: data.fresh.is_some(),
        scale: match data.scale.value {
            Scale::None => ScalePlan::None,
            Scale::MinMax => ScalePlan::MinMax,
            Scale::Standard => ScalePlan::Standard,
        },
        split,
    }
}

/// Values are kept in f32 from here on, as the kernels compute.
fn lower_column(column: &load::Column) -> Column {
    Column {
        name: column.name.clone(),
        values: column.values.iter().map(|&v| v as f32).collect(),
    }
}

fn lower_train(spec: &Spec, checked: &Checked) -> TrainPlan {
    let train = &spec.train;
    TrainPlan {
        epochs: train.epochs.value as usize,
        batch: checked.batch as usize,
        shuffle: train.shuffle.value,
        reset_each_epoch: train.reset.value == Reset::EachEpoch,
        seed: train.seed.value,
        optimizer: train.optimizer.value,
        clip: train.clip.as_ref().map(|clip| clip.value),
        schedule: train.schedule.as_ref().map(|schedule| schedule.value),
        early_stop: train.stop.as_ref().map(|stop| EarlyStopPlan {
            patience: stop.value.patience as usize,
            min_delta: stop.value.min_delta,
        }),
        loss: match train.loss.value {
            Loss::CrossEntropy => LossPlan::CrossEntropy,
            Loss::Mse => LossPlan::Mse,
            Loss::BinaryCrossEntropy => LossPlan::BinaryCrossEntropy,
            Loss::Mae => LossPlan::Mae,
        },
    }
}

fn lower_show(item: &ShowItem, source: &Source, checked: &Checked) -> ShowPlan {
    match *item {
        ShowItem::Accuracy => ShowPlan::Accuracy,
        ShowItem::Loss => ShowPlan::Loss,
        ShowItem::Items {
            count,
            temperature,
            top_k,
            seed,
        } => ShowPlan::Items {
            count: count as usize,
            request: SampleRequest {
                length: 0,
                temperature,
                top_k: top_k as usize,
                seed,
            },
        },
        ShowItem::Sample {
            ref from,
            length,
            temperature,
            top_k,
            seed,
        } => {
            let text = checked
                .text
                .as_ref()
                .expect("the checker samples texts only");
            let prime = from
                .chars()
                .map(|c| {
                    text.vocabulary
                        .binary_search(&c)
                        .expect("the checker found the prime's characters")
                        as u32
                })
                .collect();
            ShowPlan::Sample {
                prime,
                request: SampleRequest {
                    length: length as usize,
                    temperature,
                    top_k: top_k as usize,
                    seed,
                },
            }
        }
        ShowItem::Rmse => ShowPlan::Rmse,
        ShowItem::Mae => ShowPlan::Mae,
        ShowItem::Predictions { count, order } => ShowPlan::Predictions {
            count: count.map(|c| c as usize),
            random: order == Order::Random,
        },
        ShowItem::Generate { from, steps } => {
            let letters = match source {
                Source::Alphabet { letters } => letters,
                Source::RandomInts { .. }
                | Source::Csv(_)
                | Source::Text { .. }
                | Source::Lines { .. } => {
                    unreachable!("the checker requires an alphabet to generate from")
                }
            };
            let symbol = letters
                .iter()
                .position(|&c| c == from)
                .expect("the checker found the seed letter in the alphabet");
            ShowPlan::Generate {
                from: symbol as u32,
                steps: steps as usize,
            }
        }
    }
}

//! The order in which a model's thread serves waiting calls: fair between callers, and blind to
//! calls nobody waits for any more.
//!
//! A plain FIFO let one client queue twenty 500-sentence summaries and hold another client's
//! four-sentence one behind all of them (53 s, measured), even after the first client had gone.
//! Here calls wait in one lane per caller; every batch takes an equal share of texts from the
//! front call of each lane in turn (a large call is served a share at a time, so it never holds
//! a batch alone while others wait), and before each batch the calls whose caller has gone are
//! dropped unserved.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A call as the queue sees it.
pub(crate) trait Call {
    /// Texts it asks for.
    fn len(&self) -> usize;
    /// True when its caller stopped waiting (the answer would go nowhere).
    fn abandoned(&self) -> bool;
}

/// A call being served, with the vectors of its texts done so far.
#[derive(Debug)]
pub(crate) struct Work<C> {
    pub call: C,
    /// Texts already embedded.
    pub done: usize,
    /// Their vectors, in order.
    pub vectors: Vec<Vec<f32>>,
}

/// A slice of one call in a batch: texts `start..start + len` of call `id`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    pub id: u64,
    pub start: usize,
    pub len: usize,
}

#[derive(Debug)]
struct Lane {
    caller: Arc<str>,
    calls: VecDeque<u64>,
}

/// Waiting calls in lanes by caller.
#[derive(Debug)]
pub(crate) struct FairQueue<C> {
    lanes: VecDeque<Lane>,
    works: HashMap<u64, Work<C>>,
    next_id: u64,
}

impl<C: Call> FairQueue<C> {
    pub fn new() -> Self {
        Self {
            lanes: VecDeque::new(),
            works: HashMap::new(),
            next_id: 0,
        }
    }

    /// Calls waiting or under way.
    pub fn len(&self) -> usize {
        self.works.len()
    }

    pub fn is_empty(&self) -> bool {
        self.works.is_empty()
    }

    /// Texts not yet embedded, over every call.
    pub fn texts_left(&self) -> usize {
        self.works.values().map(|w| w.call.len() - w.done).sum()
    }

    /// Queues `call` at the back of its caller's lane.
    pub fn push(&mut self, caller: Arc<str>, call: C) {
        let id = self.next_id;
        self.next_id += 1;
        self.works.insert(
            id,
            Work {
                call,
                done: 0,
                vectors: Vec::new(),
            },
        );
        match self.lanes.iter_mut().find(|lane| lane.caller == caller) {
            Some(lane) => lane.calls.push_back(id),
            None => self.lanes.push_back(Lane {
                caller,
                calls: VecDeque::from([id]),
            }),
        }
    }

    /// Removes the calls nobody waits for; returns them.
    pub fn drop_abandoned(&mut self) -> Vec<C> {
        let gone: Vec<u64> = self
            .works
            .iter()
            .filter(|(_, w)| w.call.abandoned())
            .map(|(id, _)| *id)
            .collect();
        let dropped = gone
            .iter()
            .filter_map(|id| self.works.remove(id))
            .map(|w| w.call)
            .collect();
        for lane in &mut self.lanes {
            lane.calls.retain(|id| self.works.contains_key(id));
        }
        self.lanes.retain(|lane| !lane.calls.is_empty());
        dropped
    }

    /// The next batch of at most `max` texts: an equal share from the front of every lane in
    /// turn (what a lane does not use goes to the others), starting one lane further each time.
    pub fn plan(&mut self, max: usize) -> Vec<Slice> {
        let mut plan: Vec<Slice> = Vec::new();
        if self.lanes.is_empty() || max == 0 {
            return plan;
        }
        let share = (max / self.lanes.len()).max(1);
        let mut planned: HashMap<u64, usize> = HashMap::new();
        let mut filled = 0;
        while filled < max {
            let mut progressed = false;
            for lane in &self.lanes {
                if filled >= max {
                    break;
                }
                let next = lane.calls.iter().find_map(|id| {
                    let work = &self.works[id];
                    let start = work.done + planned.get(id).copied().unwrap_or_default();
                    (start < work.call.len()).then(|| (*id, start, work.call.len() - start))
                });
                let Some((id, start, left)) = next else {
                    continue;
                };
                let len = left.min(share).min(max - filled);
                *planned.entry(id).or_default() += len;
                filled += len;
                progressed = true;
                match plan.last_mut() {
                    Some(last) if last.id == id && last.start + last.len == start => {
                        last.len += len
                    }
                    _ => plan.push(Slice { id, start, len }),
                }
            }
            if !progressed {
                break;
            }
        }
        self.lanes.rotate_left(1);
        plan
    }

    /// The call of a slice, to read its texts.
    pub fn call(&self, id: u64) -> Option<&C> {
        self.works.get(&id).map(|w| &w.call)
    }

    /// Records the vectors of `slice`; returns the call and its vectors once all are done.
    pub fn complete(
        &mut self,
        slice: Slice,
        vectors: impl IntoIterator<Item = Vec<f32>>,
    ) -> Option<(C, Vec<Vec<f32>>)> {
        let work = self.works.get_mut(&slice.id)?;
        work.vectors.extend(vectors);
        work.done += slice.len;
        if work.done < work.call.len() {
            return None;
        }
        self.remove(slice.id).map(|w| (w.call, w.vectors))
    }

    /// Takes a call out (it failed).
    pub fn fail(&mut self, id: u64) -> Option<C> {
        self.remove(id).map(|w| w.call)
    }

    fn remove(&mut self, id: u64) -> Option<Work<C>> {
        let work = self.works.remove(&id)?;
        for lane in &mut self.lanes {
            lane.calls.retain(|other| *other != id);
        }
        self.lanes.retain(|lane| !lane.calls.is_empty());
        Some(work)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[derive(Debug)]
    struct Texts(usize, Arc<AtomicBool>);

    impl Call for Texts {
        fn len(&self) -> usize {
            self.0
        }
        fn abandoned(&self) -> bool {
            self.1.load(Ordering::Relaxed)
        }
    }

    fn call(len: usize) -> Texts {
        Texts(len, Arc::default())
    }

    /// Runs batches until every call is done; the order calls finished in, by their length.
    fn finish_order(queue: &mut FairQueue<Texts>, max: usize) -> Vec<usize> {
        let mut finished = Vec::new();
        while !queue.is_empty() {
            for slice in queue.plan(max) {
                let done = queue.complete(slice, (0..slice.len).map(|_| vec![0.0]));
                if let Some((call, vectors)) = done {
                    assert_eq!(vectors.len(), call.0);
                    finished.push(call.0);
                }
            }
        }
        finished
    }

    #[test]
    fn a_small_call_is_not_held_behind_another_callers_large_ones() {
        let mut queue = FairQueue::new();
        for _ in 0..20 {
            queue.push("greedy".into(), call(500));
        }
        queue.push("patient".into(), call(4));
        let first = queue.plan(32);
        // Half the first batch is the patient caller's: all of its four texts.
        assert!(
            first.contains(&Slice {
                id: 20,
                start: 0,
                len: 4
            }),
            "{first:?}"
        );
        assert_eq!(first.iter().map(|s| s.len).sum::<usize>(), 32);
        for slice in first {
            queue.complete(slice, (0..slice.len).map(|_| vec![0.0]));
        }
        assert_eq!(queue.len(), 20);
        assert_eq!(finish_order(&mut queue, 32), vec![500; 20]);
    }

    #[test]
    fn one_caller_alone_gets_whole_batches_in_order() {
        let mut queue = FairQueue::new();
        queue.push("only".into(), call(40));
        queue.push("only".into(), call(3));
        assert_eq!(
            queue.plan(32),
            vec![Slice {
                id: 0,
                start: 0,
                len: 32
            }]
        );
        let mut queue = FairQueue::new();
        queue.push("only".into(), call(10));
        queue.push("only".into(), call(3));
        // What the first call leaves of a batch goes to the next.
        assert_eq!(
            queue.plan(32),
            vec![
                Slice {
                    id: 0,
                    start: 0,
                    len: 10
                },
                Slice {
                    id: 1,
                    start: 0,
                    len: 3
                }
            ]
        );
        assert_eq!(finish_order(&mut queue, 32), vec![10, 3]);
    }

    #[test]
    fn calls_nobody_waits_for_are_dropped_before_they_run() {
        let mut queue = FairQueue::new();
        let gone = Arc::new(AtomicBool::new(false));
        for _ in 0..3 {
            queue.push("left".into(), Texts(500, gone.clone()));
        }
        queue.push("stays".into(), call(5));
        gone.store(true, Ordering::Relaxed);
        assert_eq!(queue.drop_abandoned().len(), 3);
        assert_eq!(queue.texts_left(), 5);
        assert_eq!(
            queue.plan(32),
            vec![Slice {
                id: 3,
                start: 0,
                len: 5
            }]
        );
    }
}

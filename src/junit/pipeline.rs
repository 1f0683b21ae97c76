//! The two-thread form of the parser (see [`super::parser::parse_pipelined`]).
//!
//! One thread reads the input through [`Capped`] and tokenises it with quick-xml; the calling
//! thread builds test cases from the events. Tokenising is about a third of the work on
//! reports of many small test cases, so this splits the work about evenly over two cores.
//!
//! Events cross in [`Batch`]es: the text of a few thousand events in one `String` and a small
//! record per event, rebuilt into quick-xml events on the other side. Batches go back to the
//! reading thread for reuse, and at most [`DEPTH`] are in flight, so memory stays bounded by
//! what [`Capped`] lets through per event.

use std::io::Read;
use std::sync::mpsc;

use quick_xml::events::{BytesCData, BytesEnd, BytesRef, BytesStart, BytesText, Event};

use super::capped::{ends_markup, Capped};
use super::parser::{syntax, xml_reader, Failure, ParseFailure};

/// Batches in flight between the two threads.
const DEPTH: usize = 4;
/// A batch is sent once it holds this many events...
const EVENTS_PER_BATCH: usize = 4096;
/// ...or this many bytes of text.
const TEXT_PER_BATCH: usize = 256 * 1024;

/// What an event was; its text is the quick-xml event's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Start,
    Empty,
    End,
    Text,
    CData,
    Ref,
    Eof,
}

/// One event of a batch: `text[start..end]` of its batch, and the reader's position after it.
#[derive(Debug, Clone, Copy)]
struct Record {
    kind: Kind,
    start: usize,
    end: usize,
    /// Length of the element name at the start of the text (start and empty tags).
    name_len: usize,
    pos: u64,
}

/// Events in transit, and how the input ended if it did.
#[derive(Default)]
struct Batch {
    text: String,
    records: Vec<Record>,
    /// The reader's error, after the events before it.
    failure: Option<Failure>,
}

impl Batch {
    /// Appends `event`; true when it ends the input.
    fn push(&mut self, event: &Event<'_>, pos: u64) -> bool {
        let (kind, name_len) = match event {
            Event::Start(e) => (Kind::Start, e.name().as_ref().len()),
            Event::Empty(e) => (Kind::Empty, e.name().as_ref().len()),
            Event::End(_) => (Kind::End, 0),
            Event::Text(_) => (Kind::Text, 0),
            Event::CData(_) => (Kind::CData, 0),
            Event::GeneralRef(_) => (Kind::Ref, 0),
            Event::Eof => (Kind::Eof, 0),
            // Nothing the parser reads.
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => return false,
        };
        let start = self.text.len();
        self.text.push_str(event);
        self.records.push(Record {
            kind,
            start,
            end: self.text.len(),
            name_len,
            pos,
        });
        kind == Kind::Eof
    }

    fn is_full(&self) -> bool {
        self.records.len() >= EVENTS_PER_BATCH || self.text.len() >= TEXT_PER_BATCH
    }

    fn clear(&mut self) {
        self.text.clear();
        self.records.clear();
        self.failure = None;
    }

    /// Hands each event to `on_event` in order, then the reader's error if any. `Ok(true)`
    /// when the input has ended.
    fn replay(
        &self,
        on_event: &mut impl FnMut(Event<'_>, u64) -> Result<bool, Failure>,
    ) -> Result<bool, Failure> {
        for r in &self.records {
            let text = &self.text[r.start..r.end];
            let event = match r.kind {
                Kind::Start => Event::Start(BytesStart::from_content(text, r.name_len)),
                Kind::Empty => Event::Empty(BytesStart::from_content(text, r.name_len)),
                Kind::End => Event::End(BytesEnd::new(text)),
                Kind::Text => Event::Text(BytesText::from_escaped(text)),
                Kind::CData => Event::CData(BytesCData::new(text)),
                Kind::Ref => Event::GeneralRef(BytesRef::new(text)),
                Kind::Eof => Event::Eof,
            };
            if on_event(event, r.pos)? {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Reads `capped` on a second thread and hands every event, with the reader's position
/// after it, to `on_event` on this one, until `on_event` says the input has ended or fails,
/// or the reader fails. Returns how it ended, and `capped` for its offset map and counters.
pub(super) fn run<R: Read + Send>(
    capped: Capped<R>,
    mut on_event: impl FnMut(Event<'_>, u64) -> Result<bool, Failure>,
) -> (Result<(), Failure>, Capped<R>) {
    let (tx, rx) = mpsc::sync_channel::<Batch>(DEPTH);
    let (recycle_tx, recycle_rx) = mpsc::channel::<Batch>();
    std::thread::scope(|s| {
        let producer = s.spawn(move || tokenise(capped, &tx, &recycle_rx));
        let result = consume(&rx, &recycle_tx, &mut on_event);
        // Dropping the receiver stops the producer if this side stopped early.
        drop(rx);
        match producer.join() {
            Ok(capped) => (result, capped),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    })
}

/// The reading thread: events into batches until the end of the input or an error.
fn tokenise<R: Read>(
    mut capped: Capped<R>,
    tx: &mpsc::SyncSender<Batch>,
    recycled: &mpsc::Receiver<Batch>,
) -> Capped<R> {
    let mut reader = xml_reader(&mut capped);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut batch = Batch::default();
    loop {
        let done = match reader.read_event_into(&mut buf) {
            Ok(event) => {
                let pos = reader.buffer_position();
                let done = batch.push(&event, pos);
                if ends_markup(&event) {
                    reader.get_mut().boundary(pos);
                }
                done
            }
            Err(e) => {
                batch.failure = Some(syntax(&reader, e));
                true
            }
        };
        buf.clear();
        if done || batch.is_full() {
            let mut next = recycled.try_recv().unwrap_or_default();
            next.clear();
            if tx.send(std::mem::replace(&mut batch, next)).is_err() || done {
                break;
            }
        }
    }
    drop(reader);
    capped
}

/// The building thread: replays batches until the input ends or something fails.
fn consume(
    rx: &mpsc::Receiver<Batch>,
    recycle: &mpsc::Sender<Batch>,
    on_event: &mut impl FnMut(Event<'_>, u64) -> Result<bool, Failure>,
) -> Result<(), Failure> {
    loop {
        let Ok(mut batch) = rx.recv() else {
            // The reading thread stops early only after sending the end of input or an error.
            return Err(Failure(ParseFailure::Io(
                "the reading thread stopped before the end of the input".into(),
            )));
        };
        if batch.replay(on_event)? {
            return Ok(());
        }
        if let Some(failure) = batch.failure.take() {
            return Err(failure);
        }
        // The reading thread may have finished: then the batch is simply dropped.
        let _ = recycle.send(batch);
    }
}

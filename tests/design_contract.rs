//! The example of DESIGN.md's API contract, verbatim but for the segment
//! name and the asserts: it must keep compiling and running as written.

use shmheap::{Segment, Value, value};

#[test]
fn design_md_example_runs_as_written() -> Result<(), shmheap::Error> {
    let name = format!("design-{}", std::process::id());
    // process A: creates the named segment (fails if the name exists)
    let seg = Segment::create(&name, 200 << 20)?; // Segment::options()... for more
    // process B: attaches; the header and every reachable object are validated
    let seg_b = Segment::attach(&name)?;

    {
        let mut turn = seg.turn()?; // blocks until this process holds the turn
        let _h = turn.put_message(&value!(["hello", 0, (8, 2.0, false), {"world": -6, 5: 4}]))?;
    } // dropping the Turn hands it on

    let mut turn = seg_b.turn()?;
    if let Some(h) = turn.take_message()? {
        // FIFO
        let mut list = turn.list_mut(h)?; // view, borrows the turn
        *list.int_mut(1)? += 999; // in-place scalar mutation, no copy
        list.push(3.5)?; // resizable across processes
        let s: &str = list.get(0)?.as_str()?; // zero-copy read
        assert_eq!(s, "hello");
        assert_eq!(
            list.to_value()?,
            value!(["hello", 999, (8, 2.0, false), {"world": -6, 5: 4}, 3.5])
        );
        turn.free(h)?;
    } else {
        panic!("the message was not in the queue");
    }
    // The rest of the contract's names exist with the documented shapes.
    assert_eq!(Value::dict(), Value::Dict(vec![]));
    assert_eq!(Value::set(), Value::Set(vec![]));
    assert_eq!(Value::from(()), Value::None);
    assert_eq!(Value::from(vec![1u8, 2]), Value::Bytes(vec![1, 2]));
    assert_eq!(
        Value::from(vec![Value::Int(1)]),
        Value::List(vec![Value::Int(1)])
    );
    Ok(())
}

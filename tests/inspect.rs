//! The introspection API the `shmheap` command is built on: `Status` (live
//! and from a header copy), `SegmentOptions::inspect`, snapshots,
//! `Turn::block_stats` and `Turn::peek_message`.

use shmheap::{Error, Segment, SegmentOptions, Status, TurnState, Value, value};

fn name(tag: &str) -> String {
    format!("shmheap-inspect-{}-{tag}", std::process::id())
}

#[test]
fn status_tells_the_process_table_and_the_turn() {
    let n = name("status");
    let seg = Segment::create(&n, 1 << 20).unwrap();
    let me = std::process::id();
    let s = seg.status();
    assert_eq!(s.version, Status::FORMAT_VERSION);
    assert_eq!(s.size, 1 << 20);
    assert_eq!(s.creator_pid, me);
    assert_eq!(s.messages, 0);
    assert!(!s.has_root && !s.in_operation);
    assert_eq!(s.processes.len(), 1);
    assert_eq!(s.processes[0].pid, me);
    assert!(s.processes[0].alive);
    assert_eq!(s.processes[0].state, TurnState::Idle);
    assert_eq!(s.turn.holder, None);
    assert_eq!(s.live_processes().collect::<Vec<_>>(), [me]);
    {
        let mut turn = seg.turn().unwrap();
        turn.put_message(&value!([1, 2])).unwrap();
        turn.root().unwrap().insert("k", 1).unwrap();
        let s = seg.status();
        assert_eq!(s.turn.holder, Some(me));
        assert!(s.turn.holder_alive);
        assert_eq!(s.turn.waiting, 0);
        assert!(matches!(s.processes[0].state, TurnState::Holding(t) if t == s.turn.now_serving));
        // The header copy says the same (read without attaching).
        assert_eq!(Status::read(&n).unwrap(), s);
    }
    let s = Status::read(&n).unwrap();
    assert_eq!(s.messages, 1);
    assert!(s.has_root);
    assert!(s.used > 0 && s.used == seg.turn().unwrap().stats().used);
    assert_eq!(s.turn.holder, None);
    // Reading the header took no process record.
    assert_eq!(seg.processes(), [me]);
    assert!(matches!(
        Status::read("shmheap-inspect-no-such"),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn header_copies_refuse_foreign_files() {
    let dir = std::env::temp_dir().join(name("foreign"));
    std::fs::create_dir_all(&dir).unwrap();
    let junk = dir.join("junk");
    std::fs::write(&junk, vec![1u8; 50_000]).unwrap();
    assert!(matches!(Status::read_file(&junk), Err(Error::BadMagic)));
    std::fs::write(&junk, b"SHMHEAP\0short").unwrap();
    assert!(matches!(
        Status::read_file(&junk),
        Err(Error::Truncated { .. })
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn inspect_snapshot_peek_and_block_stats() {
    let n = name("snap");
    let seg = Segment::create(&n, 1 << 20).unwrap();
    let hs: Vec<_> = {
        let mut turn = seg.turn().unwrap();
        let hs = (0..5)
            .map(|i| {
                turn.put_message(&Value::from(vec![Value::Int(i); 20]))
                    .unwrap()
            })
            .collect();
        let h = turn.take_message().unwrap().unwrap();
        turn.free(h).unwrap();
        hs
    };
    // An inspecting attachment: takes turns, reads, validates on demand.
    let ins = SegmentOptions::default().inspect(&n).unwrap();
    {
        let turn = ins.turn().unwrap();
        assert_eq!(turn.message_count(), 4);
        for (i, &h) in hs[1..].iter().enumerate() {
            assert_eq!(turn.peek_message(i).unwrap(), Some(h));
        }
        assert_eq!(turn.peek_message(4).unwrap(), None);
        let b = turn.block_stats().unwrap();
        let st = turn.stats();
        let allocated: u64 = b.classes.iter().map(|c| c.allocated).sum();
        let allocated_bytes: u64 = b.classes.iter().map(|c| c.allocated_bytes).sum();
        let free_bytes: u64 = b.classes.iter().map(|c| c.free_bytes).sum();
        // The journal's block counts in the classes but not in `Stats`.
        assert!(allocated == st.blocks || allocated == st.blocks + 1);
        assert!(allocated_bytes >= st.used);
        assert_eq!(free_bytes, st.free_in_bins);
        assert_eq!(b.untouched, st.size - st.high_water);
        // (`Stats::free` counts the journal's scratch block as free.)
        assert_eq!(b.free_bytes + (allocated_bytes - st.used), st.free);
        assert!(
            b.largest_free_block > 0,
            "the freed message left a free block"
        );
        assert!(b.largest_free() >= b.untouched);
        assert!((0.0..1.0).contains(&b.fragmentation()));
        for c in &b.classes {
            assert!(c.max_size.is_power_of_two() && c.max_size >= 32);
        }
        turn.validate().unwrap();
    }
    assert_eq!(seg.processes().len(), 2);
    drop(ins);
    assert_eq!(seg.processes().len(), 1);
    // A snapshot: the same values, its own turn, changes stay in the copy.
    let copy = Segment::snapshot(&n).unwrap();
    {
        let mut t = copy.turn().unwrap();
        assert_eq!(t.message_count(), 4);
        let h = t.take_message().unwrap().unwrap();
        assert_eq!(
            t.get(h).unwrap().to_string(),
            format!("[{}]", ["1"; 20].join(", "))
        );
    }
    assert_eq!(seg.turn().unwrap().message_count(), 4);
    assert_eq!(seg.processes().len(), 1);
}

//! An async pipeline between two processes: a tokio producer task puts
//! messages into a segment's queue while other tasks of the same runtime
//! keep running (a heartbeat, a monitor that takes turns of its own), and a
//! consumer in another process (this example run again, as a child) takes
//! them with `turn_async` on its own runtime and counts them in the root
//! namespace.
//!
//! ```text
//! cargo run --example async_pipeline            # 20 messages
//! cargo run --example async_pipeline -- 100     # 100 messages
//! ```

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shmheap::{Segment, Value, value};

type R<T = ()> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn main() -> R {
    let args: Vec<String> = std::env::args().collect();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.get(1).map(String::as_str) == Some("consumer") {
        return rt.block_on(consumer(args[2].clone()));
    }
    let n: i64 = args.get(1).map_or(Ok(20), |s| s.parse())?;
    rt.block_on(producer(n))
}

async fn producer(n: i64) -> R {
    let name = format!("shmheap-async-pipeline-{}", std::process::id());
    let seg = Arc::new(Segment::create(&name, 8 << 20)?);
    {
        let mut t = seg.turn_async().await?;
        t.root()?.insert("consumed", 0)?;
    }
    let t0 = Instant::now();
    let ms = move || t0.elapsed().as_millis();
    println!(
        "[{:>4} ms] producer: created {name}, starting the consumer process",
        ms()
    );
    let mut child = Command::new(std::env::current_exe()?)
        .args(["consumer", &name])
        .stdin(Stdio::null())
        .spawn()?;

    // Other tasks of this runtime keep running while turns are awaited.
    let heartbeat = tokio::spawn(async move {
        let mut beats = 0u64;
        loop {
            tokio::time::sleep(Duration::from_millis(25)).await;
            beats += 1;
            if beats.is_multiple_of(2) {
                println!("[{:>4} ms] heartbeat: {beats} beats", ms());
            }
        }
    });
    let monitor = {
        let seg = seg.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(60)).await;
                let Ok(mut t) = seg.turn_async().await else {
                    break;
                };
                let queued = t.message_count();
                let consumed = t
                    .root()
                    .ok()
                    .and_then(|mut r| r.int_mut(&"consumed".into()).ok().map(|c| *c));
                println!(
                    "[{:>4} ms] monitor: {queued} queued, {consumed:?} consumed",
                    ms()
                );
            }
        })
    };

    for i in 0..n {
        {
            let mut t = seg.turn_async().await?;
            t.put_message(&value!({"seq": i, "text": format!("message {i}"), "square": i * i}))?;
        }
        println!("[{:>4} ms] producer: put message {i}", ms());
        // Produce at a pace the reader can follow.
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    seg.turn_async().await?.put_message(&value!("stop"))?;
    println!("[{:>4} ms] producer: put stop", ms());

    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    heartbeat.abort();
    monitor.abort();
    let consumed = {
        let mut t = seg.turn_async().await?;
        *t.root()?.int_mut(&"consumed".into())?
    };
    println!(
        "[{:>4} ms] producer: consumer exited ({status}); it consumed {consumed} of {n} messages",
        ms()
    );
    if consumed != n || !status.success() {
        return Err("the consumer did not consume every message".into());
    }
    Ok(())
}

async fn consumer(name: String) -> R {
    let seg = Segment::attach(&name)?;
    let t0 = Instant::now();
    println!(
        "           consumer {}: attached to {name}",
        std::process::id()
    );
    let mut sum = 0i64;
    loop {
        let msg = {
            let mut t = seg.turn_async_timeout(Duration::from_secs(30)).await?;
            match t.take_message()? {
                Some(h) => {
                    let v = t.get(h)?.to_value()?;
                    t.free(h)?;
                    if let Value::Dict(_) = v {
                        *t.root()?.int_mut(&"consumed".into())? += 1;
                    }
                    Some(v)
                }
                None => None,
            }
        };
        match msg {
            Some(Value::Str(s)) if s == "stop" => break,
            Some(v) => {
                let square = match &v {
                    Value::Dict(items) => items
                        .iter()
                        .find(|(k, _)| *k == Value::from("square"))
                        .and_then(|(_, v)| {
                            if let Value::Int(i) = v {
                                Some(*i)
                            } else {
                                None
                            }
                        }),
                    _ => None,
                };
                sum += square.unwrap_or(0);
                println!(
                    "           consumer: took {v} after {} ms",
                    t0.elapsed().as_millis()
                );
            }
            // Nothing queued: let the producer work (the wait for the next
            // turn is async too).
            None => tokio::time::sleep(Duration::from_millis(3)).await,
        }
    }
    println!("           consumer: stop; the squares add up to {sum}");
    Ok(())
}

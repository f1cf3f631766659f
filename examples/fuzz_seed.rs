//! Writes seed inputs for the `attach_bytes` fuzz target: images of real
//! segments (a sample with every kind of value). `.ci/run` calls it before
//! fuzzing; by hand: `cargo run --example fuzz_seed -- fuzz/corpus/attach_bytes`.

fn main() -> std::io::Result<()> {
    let dir = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "fuzz/corpus/attach_bytes".into());
    std::fs::create_dir_all(&dir)?;
    let image = shmheap::__fuzz::sample_image();
    std::fs::write(format!("{dir}/sample-segment"), &image)?;
    println!("wrote a {}-byte segment image to {dir}", image.len());
    Ok(())
}

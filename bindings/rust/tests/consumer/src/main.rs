//! Echoes one message through an engine and checks it came back: proof that
//! a dependent crate's binary loads liburocket on its own.
use std::io::{Read, Write};
use std::time::Duration;
use urocket::{Engine, EngineOptions, Event};

fn main() -> std::io::Result<()> {
    let engine = Engine::new(&EngineOptions::default())?;
    engine.start()?;
    let mut reactor = engine.reactor(0)?;
    let addr = engine.local_addr()?;
    let client = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let mut s = std::net::TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        s.write_all(b"ping")?;
        let mut back = [0u8; 4];
        s.read_exact(&mut back)?;
        Ok(back.to_vec())
    });
    let mut echoed = 0;
    while echoed < 4 {
        let events = reactor.poll(Some(Duration::from_secs(10)))?;
        if events.is_empty() {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "no data"));
        }
        for ev in events.iter() {
            if let Event::Data { conn, data, .. } = ev {
                events.send(conn, data)?;
                echoed += data.len();
            }
        }
    }
    reactor.flush()?;
    let back = client.join().expect("client thread")?;
    assert_eq!(back, b"ping");
    engine.stop(Duration::from_millis(100))?;
    println!(
        "consumer: liburocket {} loaded, echo ok",
        urocket::version_string()
    );
    Ok(())
}

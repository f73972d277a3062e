//! Ctrl-C (SIGINT) and SIGTERM: remove this process's unfinished outputs, then die of the
//! signal as the default action would (the shell then sees status 130 or 143).
//!
//! Outputs are written under temporary names and renamed when complete ([`crate::output`]);
//! their destructors remove them on every error path, but a signal ends the process without
//! running destructors. So each temporary path is registered here while it exists
//! ([`Registered`]), and a watcher thread started by [`install`] removes what is registered
//! when a signal arrives. Nothing else is done in signal context: the watcher is an ordinary
//! thread woken by signal-hook's self-pipe.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// What to remove: a file, or a folder with everything below it.
#[derive(Debug)]
pub enum Temp {
    File(PathBuf),
    Dir(PathBuf),
}

static TEMPS: Mutex<Vec<(u64, Temp)>> = Mutex::new(Vec::new());
static NEXT: AtomicU64 = AtomicU64::new(0);

/// A registered temporary path; dropping it unregisters the path (it does not remove it).
#[derive(Debug)]
pub struct Registered(u64);

fn register(t: Temp) -> Registered {
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    TEMPS.lock().unwrap_or_else(|e| e.into_inner()).push((id, t));
    Registered(id)
}

/// Registers a temporary folder that exists already, removed with its contents if the process
/// is interrupted. A path made now should be made by [`create`].
pub fn temp_dir(path: PathBuf) -> Registered {
    register(Temp::Dir(path))
}

/// A temporary path made by `tempfile`, which says what to remove.
pub trait Temporary {
    fn temp(&self) -> Temp;
}

impl Temporary for tempfile::NamedTempFile {
    fn temp(&self) -> Temp {
        Temp::File(self.path().to_path_buf())
    }
}

impl Temporary for tempfile::TempDir {
    fn temp(&self) -> Temp {
        Temp::Dir(self.path().to_path_buf())
    }
}

/// Creates a temporary path with `make` and registers it, holding the registry's lock across
/// both. A signal that arrives meanwhile waits for the registration, then removes the path:
/// there is no moment when the path exists unregistered (creating, then calling [`temp_dir`],
/// leaves one). `make` must not register anything itself.
pub fn create<T: Temporary, E>(make: impl FnOnce() -> Result<T, E>) -> Result<(T, Registered), E> {
    let mut temps = TEMPS.lock().unwrap_or_else(|e| e.into_inner());
    let made = make()?;
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    temps.push((id, made.temp()));
    Ok((made, Registered(id)))
}

impl Drop for Registered {
    fn drop(&mut self) {
        TEMPS.lock().unwrap_or_else(|e| e.into_inner()).retain(|(id, _)| *id != self.0);
    }
}

/// Removes every registered path; returns how many were removed.
fn remove_all() -> usize {
    // The lock is held until the process ends: no new temporary file can be registered (and so
    // none can be left behind) after the removal.
    let temps = TEMPS.lock().unwrap_or_else(|e| e.into_inner());
    let mut removed = 0;
    for (_, t) in temps.iter() {
        let ok = match t {
            Temp::File(p) => std::fs::remove_file(p).is_ok(),
            Temp::Dir(p) => std::fs::remove_dir_all(p).is_ok(),
        };
        removed += usize::from(ok);
    }
    std::mem::forget(temps);
    removed
}

/// Starts the watcher of SIGINT and SIGTERM (once, from `main`). On either signal it removes
/// the registered temporary paths and ends the process by the signal's default action.
pub fn install() -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        if let Some(sig) = signals.forever().next() {
            remove_all();
            // Restores the default action and raises the signal again, so the parent sees the
            // process killed by it (a shell loop stops on Ctrl-C), as if it had no handler.
            let _ = signal_hook::low_level::emulate_default_handler(sig);
            std::process::exit(128 + sig);
        }
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_paths_are_removed_and_dropped_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (dir.path().join("a.tmp"), dir.path().join("b.tmp"), dir.path().join("d"));
        std::fs::write(&a, "a").unwrap();
        std::fs::write(&b, "b").unwrap();
        std::fs::create_dir_all(c.join("x")).unwrap();
        std::fs::write(c.join("x/f"), "f").unwrap();
        let ra = register(Temp::File(a.clone()));
        let rb = register(Temp::File(b.clone()));
        let rc = temp_dir(c.clone());
        drop(rb);
        // Other tests of this binary may hold registrations too; only ours are checked.
        let temps = TEMPS.lock().unwrap();
        let ours: Vec<&PathBuf> = temps
            .iter()
            .filter(|(id, _)| *id == ra.0 || *id == rc.0)
            .map(|(_, t)| match t {
                Temp::File(p) | Temp::Dir(p) => p,
            })
            .collect();
        assert_eq!(ours, vec![&a, &c]);
        drop(temps);
        assert!(!TEMPS.lock().unwrap().iter().any(|(_, t)| matches!(t, Temp::File(p) if *p == b)));
        drop((ra, rc));
    }

    #[test]
    fn a_created_path_is_registered_until_dropped() {
        let parent = tempfile::tempdir().unwrap();
        let (dir, reg) = create(|| tempfile::Builder::new().prefix("x-").tempdir_in(parent.path())).unwrap();
        let path = dir.path().to_path_buf();
        let registered = |p: &PathBuf| TEMPS.lock().unwrap().iter().any(|(_, t)| matches!(t, Temp::Dir(q) if q == p));
        assert!(path.is_dir() && registered(&path));
        drop(reg);
        assert!(!registered(&path));
        // A failure registers nothing.
        let missing = parent.path().join("missing");
        assert!(create(|| tempfile::tempdir_in(&missing)).is_err());
    }
}

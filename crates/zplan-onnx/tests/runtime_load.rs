//! Loading the ONNX Runtime that `make deps` installs. Everything here shares one process, so
//! the tests are ordered inside one function where the global state matters.

use std::path::Path;

use zplan_onnx::{LibrarySource, Runtime, RuntimeError, SETUP_VERSION, setup_dir};

#[test]
fn setup_library_loads_once_and_reports_its_version() {
    let dir = setup_dir();
    let runtime = Runtime::init(Some(&dir)).expect("run `make deps` to install ONNX Runtime");
    assert_eq!(runtime.version(), SETUP_VERSION);
    assert_eq!(runtime.source(), LibrarySource::Explicit);
    assert!(runtime.library_path().starts_with(&dir));
    assert!(runtime.library_path().is_file());

    // Idempotent: the same runtime, whether asked by nothing, by the directory or by the file.
    let again = Runtime::init(None).unwrap();
    assert!(std::ptr::eq(runtime, again));
    let by_file = Runtime::init(Some(runtime.library_path())).unwrap();
    assert!(std::ptr::eq(runtime, by_file));
    assert!(std::ptr::eq(runtime, Runtime::get().unwrap()));

    // A different library cannot join the loaded one.
    let other = Path::new("/nonexistent/libonnxruntime.so");
    match Runtime::init(Some(other)) {
        Err(RuntimeError::AlreadyLoaded { loaded, requested }) => {
            assert_eq!(loaded, runtime.library_path());
            assert_eq!(requested, other);
        }
        other => panic!("expected AlreadyLoaded, got {other:?}"),
    }

    // The environment is live: ONNX Runtime's API answers through it.
    ort::session::Session::builder(runtime.environment())
        .expect("a session builder from the loaded runtime");
}

#[test]
fn concurrent_init_yields_one_runtime() {
    let dir = setup_dir();
    let addresses: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| Runtime::init(Some(&dir)).unwrap() as *const Runtime as usize))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(addresses.windows(2).all(|w| w[0] == w[1]));
}

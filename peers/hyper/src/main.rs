//! hello-rest on hyper 0.14 + tokio, with hyper's own graceful shutdown:
//! `Server::bind(..).serve(..).with_graceful_shutdown(signal)`, the signal being SIGTERM or SIGINT.
//! hyper then stops accepting, closes idle connections, lets in-flight requests finish (disabling
//! keep-alive on their connections) and returns; no timeout (as in hyper's docs).
use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use hyper::service::{make_service_fn, service_fn};
use hyper::{Body, Method, Request, Response, Server, StatusCode};
use tokio::signal::unix::{signal, SignalKind};

async fn hello(req: Request<Body>, delay: Duration) -> Result<Response<Body>, Infallible> {
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => {
            tokio::time::sleep(delay).await;
            Ok(Response::new(Body::from("Hello, World!")))
        }
        (&Method::POST, "/") => {
            let _ = hyper::body::to_bytes(req.into_body()).await;
            tokio::time::sleep(delay).await;
            Ok(Response::new(Body::from("Hello, World!")))
        }
        // hyper has no "shutting down" notion visible to services: always 200.
        (&Method::GET, "/health") => Ok(Response::new(Body::from("OK"))),
        _ => Ok(Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("Not Found"))
            .unwrap()),
    }
}

async fn shutdown_signal() {
    let mut term = signal(SignalKind::terminate()).expect("install SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("install SIGINT handler");
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
    eprintln!("signal received, starting graceful shutdown");
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::var("PORT").ok().filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("PORT")).unwrap_or(8080);
    let delay_secs: f64 = std::env::var("HELLO_REST_REQUEST_DELAY").ok().filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("HELLO_REST_REQUEST_DELAY")).unwrap_or(0.0);
    let delay = Duration::from_secs_f64(delay_secs);

    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let make_svc = make_service_fn(move |_conn| async move {
        Ok::<_, Infallible>(service_fn(move |req| hello(req, delay)))
    });
    let server = Server::bind(&addr).serve(make_svc);
    eprintln!("hyper listening on {} (delay {}s)", addr, delay_secs);
    if let Err(e) = server.with_graceful_shutdown(shutdown_signal()).await {
        eprintln!("server error: {}", e);
        std::process::exit(1);
    }
    eprintln!("graceful shutdown complete");
}

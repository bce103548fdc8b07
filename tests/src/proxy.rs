//! A plain TCP load balancer in front of several data planes: each new
//! connection goes to the next node in turn, and nothing is sticky. A
//! client that opens a connection per request (see [`RoundRobin::client`])
//! has each request served by the other node.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};

use tokio::net::{TcpListener, TcpStream};

/// The balancer, stopped when dropped.
pub struct RoundRobin {
    pub addr: SocketAddr,
    /// How many connections each node was given, in order.
    given: Arc<Vec<AtomicUsize>>,
    task: tokio::task::JoinHandle<()>,
}

impl RoundRobin {
    /// Listens on a free loopback port, in front of `nodes`.
    pub async fn start(nodes: Vec<SocketAddr>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind the balancer");
        let addr = listener.local_addr().expect("its address");
        let given: Arc<Vec<AtomicUsize>> = Arc::new(nodes.iter().map(|_| AtomicUsize::new(0)).collect());
        let counts = given.clone();
        let task = tokio::spawn(async move {
            let mut next = 0;
            while let Ok((mut inbound, _)) = listener.accept().await {
                let i = next % nodes.len();
                next += 1;
                counts[i].fetch_add(1, Ordering::SeqCst);
                let node = nodes[i];
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(node).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Self { addr, given, task }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// An HTTP client that opens a connection per request, so each goes
    /// to the next node.
    pub fn client() -> reqwest::Client {
        reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("an HTTP client")
    }

    /// How many connections each node was given.
    pub fn given(&self) -> Vec<usize> {
        self.given.iter().map(|n| n.load(Ordering::SeqCst)).collect()
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

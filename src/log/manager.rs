//! All partitions on disk: topic create/delete, lookup, and the background flush/retention passes.

use super::log_loader::Shutdown;
use super::partition::Partition;
use super::config::{LogConfig, LogDefaults};
pub use super::topic::validate_topic_name;
use super::topics_file::{self, TopicMeta};
use crate::config_def::ConfigError;
use std::collections::{BTreeMap, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

/// Kafka's marker for a clean shutdown: without it, the active segments are recovered.
const CLEAN_SHUTDOWN: &str = ".kafka_cleanshutdown";

/// Descriptors kept free beyond one per partition, for connections and state files.
const SPARE_DESCRIPTORS: u64 = 256;

/// A topic and its open partitions.
pub struct Topic {
    /// The topic's name.
    pub name: String,
    /// The topic id (KIP-516), fixed at creation.
    pub id: uuid::Uuid,
    /// The topic's config overrides, by key, as given (not the effective values).
    pub configs: BTreeMap<String, String>,
    /// The partitions, by index.
    pub partitions: Vec<Arc<Partition>>,
}

impl Topic {
    /// Kafka's rule: a topic whose name starts with `__` is internal.
    pub fn is_internal(&self) -> bool {
        self.name.starts_with("__")
    }
}

/// Why a topic could not be created, altered, grown or deleted.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    /// A topic of that name exists.
    #[error("topic {0} already exists")]
    AlreadyExists(String),
    /// The name breaks Kafka's rules; holds the reason, in Kafka's words.
    #[error("{0}")]
    InvalidName(String),
    /// A create asked for fewer than one partition.
    #[error("number of partitions must be at least 1, got {0}")]
    InvalidPartitions(i32),
    /// CreatePartitions asked for no more partitions than the topic has; holds the reason.
    #[error("{0}")]
    PartitionCount(String),
    /// A config override is unknown or out of range.
    #[error("{0}")]
    InvalidConfig(#[from] ConfigError),
    /// No topic of that name.
    #[error("topic {0} does not exist")]
    Unknown(String),
    /// The file system failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

/// What the log manager needs of the broker's settings (Kafka's LogManager takes its log dirs,
/// recovery threads and default LogConfig).
#[derive(Debug, Clone)]
pub struct LogManagerConfig {
    /// `log.dirs`: where the logs live.
    pub data_dir: PathBuf,
    /// `num.recovery.threads.per.data.dir`.
    pub recovery_threads: usize,
    /// The broker's value of each topic key, under the topics' overrides.
    pub defaults: LogDefaults,
}

/// Every topic in the data dir, open: Kafka's `LogManager`.
pub struct LogManager {
    defaults: LogDefaults,
    data_dir: PathBuf,
    topics: RwLock<HashMap<String, Arc<Topic>>>,
    /// Serialises topic create/delete and the topics.json rewrite.
    admin: Mutex<()>,
}

impl LogManager {
    /// Readies the process's file descriptors for opening the logs; call it before any thread
    /// starts. Raises the soft `RLIMIT_NOFILE` to the hard limit, as the JVM does for Kafka
    /// (`-XX:+MaxFDLimit`, on by default): every partition holds its active segment open. Then
    /// sizes the descriptor table for the partitions on disk at once: the kernel grows a table
    /// shared by several threads only after an RCU grace period (10-30 ms each here), which
    /// growing it step by step while the partitions open would pay several times.
    pub fn prepare_descriptors(data_dir: &Path) {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: getrlimit/setrlimit only read and write the struct we pass by pointer.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
                let raised = libc::rlimit { rlim_cur: lim.rlim_max, rlim_max: lim.rlim_max };
                if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                    lim = raised;
                }
            }
        }
        let partitions: u64 = topics_file::load_topics(data_dir).map(|ts| ts.iter().map(|t| t.partitions.max(0) as u64).sum()).unwrap_or(0);
        // One descriptor per partition's active segment, plus room for connections and state files.
        let want = (partitions + SPARE_DESCRIPTORS).min(lim.rlim_cur.saturating_sub(1)).min(libc::c_int::MAX as u64) as libc::c_int;
        let Ok(dir) = std::fs::File::open(data_dir) else { return };
        // SAFETY: F_DUPFD_CLOEXEC duplicates our open descriptor of the data dir to the lowest
        // free number >= `want` (or fails, harmlessly), which makes the kernel grow the table;
        // the duplicate is ours alone and closed at once.
        unsafe {
            let fd = libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&dir), libc::F_DUPFD_CLOEXEC, want);
            if fd >= 0 {
                libc::close(fd);
            }
        }
        tracing::debug!(partitions, nofile = lim.rlim_cur, "file descriptors prepared");
    }

    /// Opens every topic recorded in the data dir; recovers active segments after a crash.
    pub fn open(config: LogManagerConfig) -> Result<LogManager, TopicError> {
        let LogManagerConfig { data_dir, recovery_threads, defaults } = config;
        std::fs::create_dir_all(&data_dir)?;
        let marker = data_dir.join(CLEAN_SHUTDOWN);
        let shutdown = if marker.exists() { Shutdown::Clean } else { Shutdown::Unclean };
        let stored = topics_file::load_topics(&data_dir)?;
        let configs = stored.iter().map(|t| LogConfig::from_props(&defaults, &t.configs)).collect::<Result<Vec<_>, _>>()?;
        let jobs: Vec<(usize, i32)> = stored.iter().enumerate().flat_map(|(i, t)| (0..t.partitions).map(move |p| (i, p))).collect();
        // As Kafka's num.recovery.threads.per.data.dir: partitions open (and recover) in parallel.
        let opened = parallel_map(&jobs, recovery_threads, |&(i, p)| {
            Partition::open(&data_dir, &stored[i].name, p, configs[i].clone(), shutdown).map(Arc::new)
        });
        let mut opened = opened.into_iter();
        let mut topics = HashMap::new();
        for t in stored {
            let partitions = opened.by_ref().take(t.partitions.max(0) as usize).collect::<Result<Vec<_>, _>>()?;
            topics.insert(t.name.clone(), Arc::new(Topic { name: t.name, id: t.id, configs: t.configs, partitions }));
        }
        if shutdown == Shutdown::Clean {
            std::fs::remove_file(&marker)?;
        } else if !topics.is_empty() {
            tracing::info!("no clean shutdown marker: recovered active segments");
        }
        Ok(LogManager { defaults, data_dir, topics: RwLock::new(topics), admin: Mutex::new(()) })
    }

    /// The topic named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).get(name).cloned()
    }

    /// The topic whose id is `id`.
    pub fn get_by_id(&self, id: uuid::Uuid) -> Option<Arc<Topic>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner()).values().find(|t| t.id == id).cloned()
    }

    /// Partition `index` of topic `name`, if both exist.
    pub fn partition(&self, name: &str, index: i32) -> Option<Arc<Partition>> {
        self.get(name)?.partitions.get(usize::try_from(index).ok()?).cloned()
    }

    /// All topics, sorted by name.
    pub fn list(&self) -> Vec<Arc<Topic>> {
        let mut v: Vec<_> = self.topics.read().unwrap_or_else(|p| p.into_inner()).values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Checks a create request; with `validate_only` stops there. Returns the topic (or what it would be).
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_topic_name(name).map_err(TopicError::InvalidName)?;
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(partitions));
        }
        let log_config = LogConfig::from_props(&self.defaults, &configs)?;
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(existing) = self.get(name) {
            return Err(TopicError::AlreadyExists(existing.name.clone()));
        }
        let id = uuid::Uuid::new_v4();
        if validate_only {
            return Ok(Arc::new(Topic { name: name.into(), id, configs, partitions: Vec::new() }));
        }
        let mut parts = Vec::new();
        for p in 0..partitions {
            // A leftover directory from an unclean delete must not leak old data into the new topic.
            let dir = self.data_dir.join(Partition::dir_name(name, p));
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            parts.push(Arc::new(Partition::open(&self.data_dir, name, p, log_config.clone(), Shutdown::Clean)?));
        }
        let topic = Arc::new(Topic { name: name.into(), id, configs, partitions: parts });
        let mut all = self.snapshot_meta();
        all.push(TopicMeta { name: name.into(), id, partitions, configs: topic.configs.clone() });
        topics_file::save_topics(&self.data_dir, &all)?;
        self.topics.write().unwrap_or_else(|p| p.into_inner()).insert(name.into(), topic.clone());
        tracing::info!(topic = name, partitions, "created topic");
        Ok(topic)
    }

    /// Removes a topic: forgets it durably first, then deletes its files.
    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self.topics.write().unwrap_or_else(|p| p.into_inner()).remove(name).ok_or_else(|| TopicError::Unknown(name.into()))?;
        topics_file::save_topics(&self.data_dir, &self.snapshot_meta())?;
        for p in &topic.partitions {
            if let Err(e) = p.delete() {
                tracing::warn!(topic = name, partition = p.index, error = %e, "could not remove partition directory");
            }
        }
        tracing::info!(topic = name, "deleted topic");
        Ok(topic)
    }

    /// Replaces a topic's config overrides (validated first); takes effect at once.
    pub fn set_topic_configs(&self, name: &str, configs: BTreeMap<String, String>, validate_only: bool) -> Result<(), TopicError> {
        let log_config = LogConfig::from_props(&self.defaults, &configs)?;
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.get(name).ok_or_else(|| TopicError::Unknown(name.into()))?;
        if validate_only {
            return Ok(());
        }
        let topic = Arc::new(Topic { name: old.name.clone(), id: old.id, configs, partitions: old.partitions.clone() });
        self.replace(topic)?;
        for p in &old.partitions {
            p.set_config(log_config.clone());
        }
        tracing::info!(topic = name, "altered topic configs");
        Ok(())
    }

    /// CreatePartitions: grows a topic to `count` partitions (never shrinks).
    pub fn add_partitions(&self, name: &str, count: i32, validate_only: bool) -> Result<(), TopicError> {
        let _admin = self.admin.lock().unwrap_or_else(|p| p.into_inner());
        let old = self.get(name).ok_or_else(|| TopicError::Unknown(name.into()))?;
        let current = old.partitions.len() as i32;
        if count <= current {
            return Err(TopicError::PartitionCount(format!(
                "Topic currently has {current} partitions, which is higher than the requested {count}."
            )));
        }
        if validate_only {
            return Ok(());
        }
        let log_config = LogConfig::from_props(&self.defaults, &old.configs)?;
        let mut partitions = old.partitions.clone();
        for p in current..count {
            let dir = self.data_dir.join(Partition::dir_name(name, p));
            if dir.exists() {
                std::fs::remove_dir_all(&dir)?;
            }
            partitions.push(Arc::new(Partition::open(&self.data_dir, name, p, log_config.clone(), Shutdown::Clean)?));
        }
        self.replace(Arc::new(Topic { name: old.name.clone(), id: old.id, configs: old.configs.clone(), partitions }))?;
        tracing::info!(topic = name, from = current, to = count, "added partitions");
        Ok(())
    }

    /// Swaps in a new version of a topic and persists the topic table.
    fn replace(&self, topic: Arc<Topic>) -> Result<(), TopicError> {
        self.topics.write().unwrap_or_else(|p| p.into_inner()).insert(topic.name.clone(), topic);
        topics_file::save_topics(&self.data_dir, &self.snapshot_meta())?;
        Ok(())
    }

    /// The directory the partitions' directories and topics.json are in (`log.dirs`).
    pub fn data_dir(&self) -> &std::path::Path {
        &self.data_dir
    }

    fn snapshot_meta(&self) -> Vec<TopicMeta> {
        self.list()
            .iter()
            .map(|t| TopicMeta { name: t.name.clone(), id: t.id, partitions: t.partitions.len() as i32, configs: t.configs.clone() })
            .collect()
    }

    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.list().iter().flat_map(|t| t.partitions.clone()).collect()
    }

    /// One retention pass: every partition deletes the segments past its retention.
    pub fn retention_pass(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.apply_retention() {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed");
            }
        }
    }

    /// Kafka's PeriodicProducerExpirationCheck: drops idle producers' state everywhere.
    pub fn producer_expiration_pass(&self) {
        let now = crate::util::time::now_ms();
        for p in self.all_partitions() {
            p.expire_producers(now);
        }
    }

    /// One log-cleaner pass over every compacted partition.
    pub fn cleaner_pass(&self) {
        for p in self.all_partitions() {
            if let Err(e) = super::cleaner::clean_partition(&p) {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "log cleaner failed");
            }
        }
    }

    /// One flush pass: every partition fsyncs what is due (`flush.ms`, rolled segments).
    pub fn flush_pass(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.flush_if_due() {
                tracing::error!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
        }
    }

    /// The data directory and the space on its file system (DescribeLogDirs).
    pub fn log_dir_usage(&self) -> super::log_dir::LogDirUsage {
        super::log_dir::usage(&self.data_dir)
    }

    /// Clean shutdown: flush and seal every partition, then leave the marker.
    pub fn close(&self) -> io::Result<()> {
        let (mut waits, mut fsyncs) = (0, 0);
        for p in self.all_partitions() {
            let stats = p.sync_stats();
            (waits, fsyncs) = (waits + stats.calls, fsyncs + stats.fsyncs);
            p.close()?;
        }
        if waits > 0 {
            tracing::info!(produce_waits = waits, fsyncs, "acks.all.fsync: fsyncs shared by acks=all produce requests");
        }
        // Everything written (segments, mmap'd indexes, snapshots) reaches the disk before the
        // clean-shutdown marker says the indexes can be trusted.
        sync_filesystem(&self.data_dir)?;
        crate::util::fs::write_atomic(&self.data_dir, CLEAN_SHUTDOWN, b"")
    }
}

/// syncfs(2) on the file system holding `dir`: one call instead of an fsync per file.
fn sync_filesystem(dir: &std::path::Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let d = std::fs::File::open(dir)?;
    // SAFETY: syncfs only reads the descriptor, which `d` keeps open for the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `f` over `items` on up to `threads` threads; results in the order of `items`.
fn parallel_map<T: Sync, R: Send>(items: &[T], threads: usize, f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut results: Vec<(usize, R)> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads.clamp(1, items.len().max(1)))
            .map(|_| {
                s.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break mine };
                        mine.push((i, f(item)));
                    }
                })
            })
            .collect();
        // A worker can only panic through `f`; carry the panic over rather than lose results.
        workers.into_iter().flat_map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

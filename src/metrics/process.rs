//! The process's own figures under Prometheus' standard names
//! (`process_cpu_seconds_total`, `process_resident_memory_bytes`, ...),
//! read from Linux's `/proc` at each scrape. A figure that cannot be read
//! (no `/proc`: another system, a sandbox hiding it) is left out of the
//! scrape, and said once in the log at debug level; it never fails one.
//!
//! Read by hand: no maintained collector works with this version of
//! `prometheus-client`, and the files are a few lines each.

use std::path::Path;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;

/// `/proc/self/auxv` entry types (`<elf.h>`): the kernel's clock tick, in
/// which `/proc/self/stat` counts CPU time and the start time.
const AT_CLKTCK: usize = 17;
/// Entries read from `/proc/self/auxv`; the kernel writes about 30.
const AUXV_ENTRIES_MAX: usize = 256;

#[derive(Debug, Default)]
pub(super) struct ProcessCollector;

impl ProcessCollector {
    pub(super) fn new() -> Self {
        Self
    }
}

/// What one scrape read; `None` where a file could not be read or parsed.
#[derive(Debug, Default, PartialEq)]
struct ProcessFigures {
    cpu_seconds: Option<f64>,
    start_time_seconds: Option<f64>,
    resident_memory_bytes: Option<u64>,
    virtual_memory_bytes: Option<u64>,
    open_fds: Option<u64>,
    max_fds: Option<u64>,
}

impl ProcessFigures {
    fn read(proc: &Path) -> Self {
        let read = |file: &str| match std::fs::read_to_string(proc.join(file)) {
            Ok(text) => Some(text),
            Err(error) => {
                tracing::debug!(file, %error, "process metrics: unreadable, left out of the scrape");
                None
            }
        };
        let ticks_per_second = std::fs::read(proc.join("self/auxv")).ok().and_then(|auxv| clock_ticks(&auxv));
        let stat = read("self/stat").and_then(|text| parse_stat(&text));
        let boot_time = read("stat").and_then(|text| boot_time_seconds(&text));
        let status = read("self/status");
        #[allow(clippy::cast_precision_loss)] // ticks and seconds since 1970 are far below 2^52
        let seconds = |ticks: u64, per_second: u64| ticks as f64 / per_second as f64;
        Self {
            cpu_seconds: stat.zip(ticks_per_second).map(|(stat, hz)| seconds(stat.cpu_ticks, hz)),
            start_time_seconds: stat
                .zip(ticks_per_second)
                .zip(boot_time)
                .map(|((stat, hz), boot)| seconds(boot, 1) + seconds(stat.start_ticks, hz)),
            resident_memory_bytes: status.as_deref().and_then(|text| status_kib(text, "VmRSS:")).map(|kib| kib * 1024),
            virtual_memory_bytes: status.as_deref().and_then(|text| status_kib(text, "VmSize:")).map(|kib| kib * 1024),
            open_fds: open_fds(&proc.join("self/fd")),
            max_fds: read("self/limits").and_then(|text| max_open_files(&text)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
struct Stat {
    /// User and system time, in clock ticks.
    cpu_ticks: u64,
    /// Since boot, in clock ticks.
    start_ticks: u64,
}

/// `/proc/self/stat`: fields 14 and 15 (utime, stime) and 22 (starttime),
/// counted after the command name, which may hold spaces and parentheses.
fn parse_stat(text: &str) -> Option<Stat> {
    let after_name = &text[text.rfind(')')? + 1..];
    // Field 3 (state) is the first after the name.
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let field = |number: usize| fields.get(number - 3)?.parse::<u64>().ok();
    Some(Stat { cpu_ticks: field(14)?.checked_add(field(15)?)?, start_ticks: field(22)? })
}

/// `/proc/stat`'s `btime`: the boot time, seconds since the Unix epoch.
fn boot_time_seconds(text: &str) -> Option<u64> {
    text.lines().find_map(|line| line.strip_prefix("btime")?.trim().parse().ok())
}

/// A `/proc/self/status` line in kB (`VmRSS:     1234 kB`).
fn status_kib(text: &str, key: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix(key))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The soft limit of `Max open files` in `/proc/self/limits`; none when
/// unlimited.
fn max_open_files(text: &str) -> Option<u64> {
    let line = text.lines().find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The entries of `/proc/self/fd` (bounded by the process's own limit on
/// open files).
fn open_fds(dir: &Path) -> Option<u64> {
    match std::fs::read_dir(dir) {
        Ok(entries) => u64::try_from(entries.flatten().count()).ok(),
        Err(error) => {
            tracing::debug!(dir = %dir.display(), %error, "process metrics: unreadable, left out of the scrape");
            None
        }
    }
}

/// `AT_CLKTCK` from the auxiliary vector: (type, value) pairs of native
/// words, ended by type 0.
fn clock_ticks(auxv: &[u8]) -> Option<u64> {
    const WORD: usize = std::mem::size_of::<usize>();
    let word = |bytes: &[u8]| Some(usize::from_ne_bytes(bytes.try_into().ok()?));
    for entry in auxv.chunks_exact(2 * WORD).take(AUXV_ENTRIES_MAX) {
        match word(&entry[..WORD])? {
            0 => return None,
            AT_CLKTCK => return u64::try_from(word(&entry[WORD..])?).ok().filter(|hz| *hz > 0),
            _ => {}
        }
    }
    None
}

impl Collector for ProcessCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let figures = ProcessFigures::read(Path::new("/proc"));
        if let Some(seconds) = figures.cpu_seconds {
            let counter = ConstCounter::new(seconds);
            let metric = encoder.encode_descriptor(
                "process_cpu_seconds",
                "Total user and system CPU time spent in seconds.",
                None,
                counter.metric_type(),
            )?;
            counter.encode(metric)?;
        }
        if let Some(seconds) = figures.start_time_seconds {
            let gauge = ConstGauge::new(seconds);
            let metric = encoder.encode_descriptor(
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.",
                None,
                gauge.metric_type(),
            )?;
            gauge.encode(metric)?;
        }
        let gauges = [
            ("process_resident_memory_bytes", "Resident memory size in bytes.", figures.resident_memory_bytes),
            ("process_virtual_memory_bytes", "Virtual memory size in bytes.", figures.virtual_memory_bytes),
            ("process_open_fds", "Number of open file descriptors.", figures.open_fds),
            ("process_max_fds", "Maximum number of open file descriptors.", figures.max_fds),
        ];
        for (name, help, value) in gauges {
            let Some(value) = value else { continue };
            let gauge = ConstGauge::new(value);
            let metric = encoder.encode_descriptor(name, help, None, gauge.metric_type())?;
            gauge.encode(metric)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_a_command_name_with_spaces_and_parentheses() {
        let text = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 \
                    987654 321 18446744073709551615\n";
        assert_eq!(parse_stat(text), Some(Stat { cpu_ticks: 300, start_ticks: 12345 }));
        assert_eq!(parse_stat("4242 (truncated) S 1"), None);
        assert_eq!(parse_stat("no name at all"), None);
    }

    #[test]
    fn status_limits_and_boot_time_lines_are_read_by_their_key() {
        let status = "Name:\tsettled\nVmSize:\t  123456 kB\nVmRSS:\t    2048 kB\n";
        assert_eq!(status_kib(status, "VmRSS:"), Some(2048));
        assert_eq!(status_kib(status, "VmSize:"), Some(123_456));
        assert_eq!(status_kib(status, "VmSwap:"), None);
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        let unlimited = "Max open files            unlimited            unlimited            files\n";
        assert_eq!(max_open_files(unlimited), None);
        assert_eq!(boot_time_seconds("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
    }

    #[test]
    fn the_clock_tick_is_found_in_the_auxiliary_vector() {
        let entry = |kind: usize, value: usize| [kind.to_ne_bytes(), value.to_ne_bytes()].concat();
        let auxv = [entry(6, 4096), entry(AT_CLKTCK, 100), entry(0, 0)].concat();
        assert_eq!(clock_ticks(&auxv), Some(100));
        assert_eq!(clock_ticks(&[entry(6, 4096), entry(0, 0)].concat()), None);
        assert_eq!(clock_ticks(&auxv[..5]), None, "a short read");
    }

    #[test]
    fn a_missing_proc_leaves_every_figure_out() {
        let empty = tempfile::tempdir().expect("temp dir");
        assert_eq!(ProcessFigures::read(empty.path()), ProcessFigures::default());
    }
}

//! Kubernetes resource quantities as the API writes them (`256Mi`, `1Gi`, `500m`, `0.5`):
//! read into bytes and millicores, and memory written back.

/// The memory a quantity names, in bytes (`256Mi`, `1Gi`, `500M`, `1048576`).
pub fn memory_bytes(quantity: &str) -> Option<u64> {
    let quantity = quantity.trim();
    let split = quantity.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(quantity.len());
    let (number, unit) = quantity.split_at(split);
    let number: f64 = number.parse().ok()?;
    let factor: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        "m" => 1e-3,
        _ => return None,
    };
    let bytes = number * factor;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

/// The CPU a quantity names, in millicores (`500m`, `2`, `0.5`).
pub fn cpu_millis(quantity: &str) -> Option<u64> {
    let quantity = quantity.trim();
    let millis = match quantity.strip_suffix('m') {
        Some(millis) => millis.parse::<f64>().ok()?,
        None => quantity.parse::<f64>().ok()? * 1000.0,
    };
    (millis.is_finite() && millis >= 0.0).then_some(millis as u64)
}

/// Memory `bytes` as Kubernetes writes it, in whole MiB (or GiB when exact).
pub fn memory(bytes: u64) -> String {
    let mib = bytes.div_ceil(1024 * 1024);
    if mib.is_multiple_of(1024) { format!("{}Gi", mib / 1024) } else { format!("{mib}Mi") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_as_kubernetes_writes_them() {
        assert_eq!(memory_bytes("256Mi"), Some(256 * 1024 * 1024));
        assert_eq!(memory_bytes("1Gi"), Some(1 << 30));
        assert_eq!(memory_bytes("500M"), Some(500_000_000));
        assert_eq!(memory_bytes("1048576"), Some(1_048_576));
        assert_eq!(memory_bytes("12parsecs"), None);
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.25"), Some(250));
    }

    #[test]
    fn memory_is_written_in_whole_mebibytes_or_gibibytes() {
        assert_eq!(memory(256 * 1024 * 1024), "256Mi");
        assert_eq!(memory(1 << 30), "1Gi");
        assert_eq!(memory(1), "1Mi");
    }
}

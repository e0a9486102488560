//! Quantities as the API server reads them (`resource.Quantity`): a decimal number, then
//! a binary suffix (`Ki` … `Ei`), a decimal one (`n`, `u`, `m`, none, `k` … `E`), or an
//! exponent (`e3`, `E-2`).

/// The value `quantity` names, in its base unit (bytes, cores), when it is well formed.
pub fn value(quantity: &str) -> Option<f64> {
    let quantity = quantity.trim();
    let digits = quantity
        .char_indices()
        .find(|(index, c)| !(c.is_ascii_digit() || *c == '.' || (*index == 0 && (*c == '+' || *c == '-'))))
        .map_or(quantity.len(), |(index, _)| index);
    let (number, suffix) = quantity.split_at(digits);
    let number: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        binary if binary.len() == 2 && binary.ends_with('i') => {
            let power = "KMGTPE".find(&binary[..1])? as i32 + 1;
            1024f64.powi(power)
        }
        exponent => 10f64.powi(exponent.strip_prefix(['e', 'E'])?.parse().ok()?),
    };
    Some(number * scale).filter(|value| value.is_finite())
}

/// The memory (or storage) `quantity` names, in bytes.
pub fn memory_bytes(quantity: &str) -> Option<u64> {
    value(quantity).filter(|bytes| *bytes >= 0.0).map(|bytes| bytes as u64)
}

/// The CPU `quantity` names, in millicores.
pub fn cpu_millis(quantity: &str) -> Option<u64> {
    value(quantity).filter(|cores| *cores >= 0.0).map(|cores| (cores * 1000.0).round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suffix_the_api_server_accepts_is_read() {
        assert_eq!(memory_bytes("256Mi"), Some(256 << 20));
        assert_eq!(memory_bytes("1Gi"), Some(1 << 30));
        assert_eq!(memory_bytes("2Ei"), Some(2 << 60));
        assert_eq!(memory_bytes("500M"), Some(500_000_000));
        assert_eq!(memory_bytes("1048576"), Some(1_048_576));
        assert_eq!(memory_bytes("1e3"), Some(1000));
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(cpu_millis("0.25"), Some(250));
        assert_eq!(cpu_millis("250000u"), Some(250));
        for wrong in ["12parsecs", "Mi", "", "1Xi", "-1Gi"] {
            assert_eq!(memory_bytes(wrong), None, "{wrong}");
        }
    }
}

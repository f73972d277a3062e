//! The names in a site's `silk.conf`: sensor ids → names, flow type ids → (class, type). SiLK
//! files store only the numbers; `rwcut` prints the names from this file, so flowlens needs the
//! same file to give the same values.
//!
//! Only what naming needs is read: `sensor ID NAME`, `class NAME` … `type ID NAME` … `end class`.
//! Descriptions, groups, default classes and types, path formats and packing logic are skipped.

use std::path::{Path, PathBuf};

/// Sensor ids are u16 in the records; 65535 is SiLK's "no sensor".
pub const INVALID_SENSOR: u16 = u16::MAX;
/// Flow type ids are u8 in the records; 255 is SiLK's "no flow type".
pub const INVALID_FLOWTYPE: u8 = u8::MAX;

/// Sensor and flow type names from a `silk.conf`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SilkConf {
    sensors: Vec<Option<String>>,
    /// By flow type id: (class name, type name).
    flowtypes: Vec<Option<(String, String)>>,
}

impl SilkConf {
    /// Parses the text of a `silk.conf`. Errors give the line.
    pub fn parse(text: &str) -> Result<SilkConf, String> {
        let mut conf = SilkConf::default();
        let mut class: Option<String> = None;
        for (n, raw) in text.lines().enumerate() {
            let line = raw.split('#').next().unwrap_or("");
            let words: Vec<&str> = line.split_whitespace().collect();
            let Some(&keyword) = words.first() else { continue };
            let err = |what: &str| format!("silk.conf line {}: {what}: '{}'", n + 1, raw.trim());
            let id = |w: Option<&&str>, max: u32| -> Result<usize, String> {
                w.and_then(|w| w.parse::<u32>().ok())
                    .filter(|&v| v < max)
                    .map(|v| v as usize)
                    .ok_or_else(|| err(&format!("expected a number below {max}")))
            };
            match keyword {
                "sensor" => {
                    let i = id(words.get(1), u32::from(INVALID_SENSOR))?;
                    let name = words.get(2).ok_or_else(|| err("a sensor needs a name"))?;
                    if conf.sensors.len() <= i {
                        conf.sensors.resize(i + 1, None);
                    }
                    conf.sensors[i] = Some(name.to_string());
                }
                "class" => {
                    class = Some(words.get(1).ok_or_else(|| err("a class needs a name"))?.to_string());
                }
                "end" if words.get(1) == Some(&"class") => class = None,
                "type" => {
                    let c = class.as_ref().ok_or_else(|| err("a type outside a class"))?;
                    let i = id(words.get(1), u32::from(INVALID_FLOWTYPE))?;
                    let name = words.get(2).ok_or_else(|| err("a type needs a name"))?;
                    if conf.flowtypes.len() <= i {
                        conf.flowtypes.resize(i + 1, None);
                    }
                    conf.flowtypes[i] = Some((c.clone(), name.to_string()));
                }
                "include" => return Err(err("'include' is not supported: give the file that defines the sensors")),
                _ => {}
            }
        }
        Ok(conf)
    }

    pub fn load(path: &Path) -> Result<SilkConf, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        SilkConf::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Finds the `silk.conf` for a file, the way SiLK's tools do and then some: the file given
    /// (`--silk-conf`), else `$SILK_CONFIG_FILE`, else a `silk.conf` beside the data (the
    /// input's folder or one of its four parents: a repository file sits at
    /// `ROOT/TYPE/YYYY/MM/DD/`, with `ROOT/silk.conf`), else `$SILK_DATA_ROOTDIR/silk.conf`,
    /// else SiLK's default root `/data/silk.conf`. `Ok(None)` when there is none (the reader
    /// then gives sensor and type numbers and a null class). A file named by the flag or
    /// `$SILK_CONFIG_FILE` that cannot be read is an error saying so.
    pub fn find(explicit: Option<&Path>, input: Option<&Path>) -> Result<Option<(PathBuf, SilkConf)>, String> {
        let load = |p: &Path, how: &str| {
            SilkConf::load(p).map(|c| Some((p.to_path_buf(), c))).map_err(|e| {
                format!("{e} (the silk.conf {how}, for SiLK sensor and class/type names; give the site's silk.conf)")
            })
        };
        if let Some(p) = explicit {
            return load(p, "named by --silk-conf");
        }
        if let Some(p) = std::env::var_os("SILK_CONFIG_FILE").filter(|p| !p.is_empty()) {
            return load(Path::new(&p), "named by $SILK_CONFIG_FILE");
        }
        let beside = input.and_then(Path::parent).into_iter().flat_map(Path::ancestors).take(5);
        let root = std::env::var_os("SILK_DATA_ROOTDIR").filter(|p| !p.is_empty()).map(PathBuf::from);
        let candidates = beside
            .map(|d| if d.as_os_str().is_empty() { Path::new(".") } else { d })
            .map(|d| d.join("silk.conf"))
            .chain(root.map(|r| r.join("silk.conf")))
            .chain([PathBuf::from("/data/silk.conf")]);
        for p in candidates {
            if p.is_file() {
                return load(&p, "found beside the data or under the data root");
            }
        }
        Ok(None)
    }

    pub fn sensor(&self, id: u16) -> Option<&str> {
        self.sensors.get(id as usize)?.as_deref()
    }

    /// (class, type) of a flow type.
    pub fn flowtype(&self, id: u8) -> Option<(&str, &str)> {
        self.flowtypes.get(id as usize)?.as_ref().map(|(c, t)| (c.as_str(), t.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_twoway_conf() {
        let c = SilkConf::parse(include_str!("../../../tests/data/native/silk.conf")).unwrap();
        assert_eq!(c.sensor(0), Some("S0"));
        assert_eq!(c.sensor(14), Some("S14"));
        assert_eq!(c.sensor(15), None);
        assert_eq!(c.flowtype(0), Some(("all", "in")));
        assert_eq!(c.flowtype(10), Some(("all", "other")));
        assert_eq!(c.flowtype(11), None);
    }

    #[test]
    fn errors_name_the_line() {
        let e = SilkConf::parse("version 2\nsensor x S0\n").unwrap_err();
        assert!(e.contains("line 2") && e.contains("sensor x S0"), "{e}");
        assert!(SilkConf::parse("type 0 in\n").unwrap_err().contains("outside a class"));
        assert!(SilkConf::parse("sensor 65535 S\n").is_err(), "65535 is SiLK's invalid sensor");
        assert!(SilkConf::parse("include \"x.conf\"\n").unwrap_err().contains("include"));
    }
}

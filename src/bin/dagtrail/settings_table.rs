//! The settings table of docs/DEPLOYMENT.md, written from the command
//! line's definitions so that it cannot drift from them: every setting
//! (an argument with an environment variable), its flag, default, the
//! subcommands that read it and its help.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use clap::CommandFactory;

    const DOC: &str = "docs/DEPLOYMENT.md";
    const BEGIN: &str = "<!-- settings: written by src/bin/dagtrail/settings_table.rs -->\n";
    const END: &str = "<!-- end of settings -->";

    /// One setting: flag, default, help, and the commands that read it.
    #[derive(Default)]
    struct Setting {
        flags: Vec<String>,
        default: String,
        help: String,
        commands: Vec<String>,
    }

    fn table() -> String {
        let cli = crate::Cli::command();
        let mut settings: BTreeMap<String, Setting> = BTreeMap::new();
        for command in cli.get_subcommands() {
            for arg in command.get_arguments() {
                let Some(env) = arg.get_env() else { continue };
                let entry = settings
                    .entry(env.to_string_lossy().into_owned())
                    .or_default();
                if let Some(flag) = arg.get_long().map(|l| format!("`--{l}`"))
                    && !entry.flags.contains(&flag)
                {
                    entry.flags.push(flag);
                }
                let defaults: Vec<String> = arg
                    .get_default_values()
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect();
                if !defaults.is_empty() {
                    entry.default = format!("`{}`", defaults.join(","));
                }
                if entry.help.is_empty() {
                    let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
                    entry.help = help.replace('|', "\\|").replace('\n', " ");
                }
                entry.commands.push(format!("`{}`", command.get_name()));
            }
        }
        let mut out = String::from(
            "| variable | flag | default | read by | meaning |\n|---|---|---|---|---|\n",
        );
        for (env, s) in settings {
            let default = if s.default.is_empty() {
                "unset".to_owned()
            } else {
                s.default
            };
            out.push_str(&format!(
                "| `{env}` | {} | {default} | {} | {} |\n",
                s.flags.join(", "),
                s.commands.join(", "),
                s.help
            ));
        }
        out
    }

    /// `DAGTRAIL_UPDATE_DOCS=1 cargo test -p dagtrail --bin dagtrail settings`
    /// rewrites the table; otherwise the document must hold it as is.
    #[test]
    fn the_settings_table_is_the_command_lines() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC);
        let doc = std::fs::read_to_string(&path).unwrap();
        let (Some(begin), Some(end)) = (doc.find(BEGIN), doc.find(END)) else {
            panic!("{DOC} has no settings table markers");
        };
        let updated = format!("{}{BEGIN}{}{}", &doc[..begin], table(), &doc[end..]);
        if std::env::var_os("DAGTRAIL_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &updated).unwrap();
        } else {
            assert!(
                updated == doc,
                "{DOC}'s settings table differs from the command line: run with DAGTRAIL_UPDATE_DOCS=1 and review"
            );
        }
    }
}

//! Flags people reach for to pass a secret (`--pin 1234`, `--wallet-key 0x…`): refused with a
//! clear message before clap parses anything, because argv is visible in `ps`, shell history
//! and CI logs. The value is never read or printed.

use std::ffi::OsString;

const PIN_HELP: &str = "put the PIN in a file only you can read (chmod 600) and name it in the pkcs11: URI with \
                        pin-source=file:/path, or use pin-source=env:VARNAME";

/// Refused flag → what to use instead.
const REFUSED: [(&str, &str); 9] = [
    ("--pin", PIN_HELP),
    ("--pin-value", PIN_HELP),
    ("--so-pin", PIN_HELP),
    ("--pin-source", "pin-source belongs in the pkcs11: URI (pin-source=file:/path or pin-source=env:VARNAME)"),
    ("--seed", "use --session-seed-file PATH"),
    ("--session-seed", "use --session-seed-file PATH"),
    ("--wallet-key", "use --wallet-key-file PATH or --wallet pkcs11:URI"),
    ("--private-key", "use --wallet-key-file PATH or --wallet pkcs11:URI"),
    ("--secret-key", "use --wallet-key-file PATH or --session-seed-file PATH"),
];

/// The refusal for the first refused flag (`--flag value` or `--flag=value`) among `args`
/// (without the program name), if any. Arguments after `--` are not flags.
pub fn refusal(args: impl IntoIterator<Item = OsString>) -> Option<String> {
    for arg in args {
        let Some(arg) = arg.to_str() else { continue };
        if arg == "--" {
            break;
        }
        let name = arg.split_once('=').map_or(arg, |(name, _)| name);
        if let Some((flag, help)) = REFUSED.iter().find(|(flag, _)| *flag == name) {
            return Some(format!(
                "{flag} [value withheld]: secrets are never taken as argument values \
                 (argv shows in ps, shell history and logs); {help}"
            ));
        }
    }
    None
}

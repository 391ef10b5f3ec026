/// The version of ftptunnel and pasvd, written only here: `--version`, `--help` and the man pages show it, and
/// the Makefile reads it from this file for package names.
public enum ProductVersion {
    public static let current = "0.9.0"
}

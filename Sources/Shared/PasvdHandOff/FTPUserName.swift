/// What pasvd accepts as an FTP user name (in the users file, `pasvd passwd`, and a hand-off message): 1-64
/// ASCII letters, digits and `._-@`. Nothing that could start an option, cross a path or break a line.
public enum FTPUserName {
    public static let maximumBytes = 64

    public static func isValid(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= maximumBytes
            && name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "._-@".contains($0)) }
    }
}

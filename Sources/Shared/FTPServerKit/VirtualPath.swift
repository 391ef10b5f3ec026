import Posix

/// A path as the client sees it: absolute, inside the session root, already normalised
/// (no empty, `.` or `..` components). Pure value: no file-system access.
public struct VirtualPath: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// Longest single name the server accepts (Linux NAME_MAX).
    public static let maximumNameLength = 255
    /// Longest client path argument the server accepts, in bytes (Linux PATH_MAX).
    public static let maximumPathLength = 4096

    public static let root = VirtualPath(components: [])

    public let components: [String]

    public var isRoot: Bool { components.isEmpty }
    public var name: String? { components.last }
    public var parent: VirtualPath { VirtualPath(components: Array(components.dropLast())) }
    public var description: String { "/" + components.joined(separator: "/") }

    /// Resolves a client argument against the current directory. Absolute arguments start at the session
    /// root; `..` never climbs above it (as after chroot). Throws for NUL bytes and over-long names.
    public static func resolve(_ argument: String, from cwd: VirtualPath) throws(PathError) -> VirtualPath {
        guard !argument.utf8.contains(0) else { throw .nulByte }
        guard argument.utf8.count <= maximumPathLength else { throw .tooLong }
        var components = argument.hasPrefix("/") ? [] : cwd.components
        for part in argument.split(separator: "/", omittingEmptySubsequences: true) {
            switch part {
            case ".": continue
            case "..": if !components.isEmpty { components.removeLast() }
            default:
                guard part.utf8.count <= maximumNameLength else { throw .tooLong }
                components.append(String(part))
            }
        }
        return VirtualPath(components: components)
    }

    /// The path of `name` inside this directory (`name` must be a single component).
    public func appending(_ name: String) -> VirtualPath {
        VirtualPath(components: components + [name])
    }
}

/// Why a client path was refused. Replies never say more than "not found" / "not allowed".
public enum PathError: Error, Equatable, CustomStringConvertible {
    case nulByte
    case tooLong
    case notFound(String)
    case isRoot
    case hiddenName(String)
    /// The kernel refused for another reason (permissions, I/O): mapped to a reply by errno.
    case system(PosixError)

    public var description: String {
        switch self {
        case .nulByte: return "path contains a NUL byte"
        case .tooLong: return "path or name too long"
        case .notFound(let p): return "\(p) does not exist"
        case .isRoot: return "operation not allowed on the root directory"
        case .hiddenName(let p): return "\(p) names a reserved temporary file"
        case .system(let error): return error.description
        }
    }
}

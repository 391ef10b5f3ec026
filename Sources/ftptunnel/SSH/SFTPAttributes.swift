import CLibSSH2

/// The attributes an SFTP v3 server reports for a file (each optional: the server may leave any out).
struct SFTPAttributes: Equatable {
    enum Kind { case file, directory, symlink, other }

    let size: UInt64?
    /// Permission bits including the file type (`S_IFMT`).
    let permissions: UInt32?
    let modified: Int?

    init(size: UInt64?, permissions: UInt32?, modified: Int?) {
        self.size = size
        self.permissions = permissions
        self.modified = modified
    }

    init(_ attrs: LIBSSH2_SFTP_ATTRIBUTES) {
        let flags = attrs.flags
        size = flags & UInt(LIBSSH2_SFTP_ATTR_SIZE) != 0 ? attrs.filesize : nil
        permissions = flags & UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS) != 0 ? UInt32(truncatingIfNeeded: attrs.permissions) : nil
        modified = flags & UInt(LIBSSH2_SFTP_ATTR_ACMODTIME) != 0 ? Int(truncatingIfNeeded: attrs.mtime) : nil
    }

    /// The libssh2 structure for SETSTAT with just the given fields (the access time follows the modification time).
    static func settable(size: UInt64? = nil, permissions: UInt32? = nil, modified: Int? = nil) -> LIBSSH2_SFTP_ATTRIBUTES {
        var attrs = LIBSSH2_SFTP_ATTRIBUTES()
        if let size {
            attrs.flags |= UInt(LIBSSH2_SFTP_ATTR_SIZE)
            attrs.filesize = size
        }
        if let permissions {
            attrs.flags |= UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
            attrs.permissions = UInt(permissions)
        }
        if let modified {
            attrs.flags |= UInt(LIBSSH2_SFTP_ATTR_ACMODTIME)
            attrs.mtime = UInt(clamping: modified)
            attrs.atime = UInt(clamping: modified)
        }
        return attrs
    }

    var kind: Kind {
        guard let permissions else { return .other }
        switch permissions & UInt32(LIBSSH2_SFTP_S_IFMT) {
        case UInt32(LIBSSH2_SFTP_S_IFREG): return .file
        case UInt32(LIBSSH2_SFTP_S_IFDIR): return .directory
        case UInt32(LIBSSH2_SFTP_S_IFLNK): return .symlink
        default: return .other
        }
    }
}

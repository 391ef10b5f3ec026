import FTPServerKit
import Foundation

extension FileFacts {
    /// The facts of a stat(2) result (obtained through `ConfinedRoot`).
    init(_ info: stat) {
        let type = info.st_mode & S_IFMT
        self.init(kind: type == S_IFREG ? .file : type == S_IFDIR ? .directory : .other, size: Int64(info.st_size),
                  modified: Int(info.st_mtim.tv_sec), mode: UInt32(info.st_mode & 0o7777), links: Int(info.st_nlink))
    }
}

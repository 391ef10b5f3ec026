import CFuzzerDriver
import Foundation

/// The entry point every fuzz target shares. Built by `scripts/fuzz.sh` (`-DFUZZING`, coverage instrumentation,
/// AddressSanitizer, libFuzzer linked), `run` hands control to libFuzzer; in a normal `swift build` it replays the
/// files and directories given as arguments (a corpus, or a crash input), so the targets always compile and any
/// input can be rerun under the debugger.
public enum FuzzMain {
    public typealias Body = ([UInt8]) -> Void

    nonisolated(unsafe) private static var body: Body = { _ in }

    public static func run(_ body: @escaping Body) -> Never {
        Self.body = body
        #if FUZZING
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in
            FuzzMain.body(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
            return 0
        })
        #else
        exit(replay(CommandLine.arguments.dropFirst()))
        #endif
    }

    /// Runs every file named (directories: every file inside, sorted). Returns the exit status.
    static func replay<S: Sequence>(_ paths: S) -> Int32 where S.Element == String {
        var files: [String] = []
        for path in paths where !path.hasPrefix("-") {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                FileHandle.standardError.write(Data("no such file: \(path)\n".utf8))
                return 2
            }
            if isDirectory.boolValue {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []
                files += names.sorted().map { "\(path)/\($0)" }
            } else {
                files.append(path)
            }
        }
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else { continue }
            body(Array(data))
        }
        print("replayed \(files.count) inputs without a failure")
        return 0
    }
}

/// Reads structure out of fuzz input: bytes, small numbers and chunks, never failing (zeros once exhausted).
public struct FuzzInput {
    private let bytes: [UInt8]
    private var offset = 0

    public init(_ bytes: [UInt8]) { self.bytes = bytes }

    public var isExhausted: Bool { offset >= bytes.count }

    public mutating func byte() -> UInt8 {
        guard offset < bytes.count else { return 0 }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// A number in `range`, from one byte.
    public mutating func number(in range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(byte()) % (range.count)
    }

    /// The next `count` bytes (fewer at the end).
    public mutating func take(_ count: Int) -> [UInt8] {
        let end = min(bytes.count, offset + count)
        defer { offset = end }
        return Array(bytes[offset..<end])
    }

    /// Everything not read yet.
    public mutating func rest() -> [UInt8] { take(bytes.count - offset) }
}

/// A violated invariant: print what and why, then trap so libFuzzer records the input.
public func fuzzCheck(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #fileID, line: UInt = #line) {
    guard !condition() else { return }
    FileHandle.standardError.write(Data("invariant violated (\(file):\(line)): \(message())\n".utf8))
    fatalError("fuzz invariant", file: file, line: line)
}

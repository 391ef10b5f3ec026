// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "ftptunnel",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "ftptunnel", targets: ["ftptunnel"]),
        .executable(name: "pasvd", targets: ["pasvd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        // C libraries, each behind one narrow Swift wrapper.
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        .systemLibrary(name: "COpenSSL", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CCrypt", pkgConfig: "libcrypt", providers: [.apt(["libcrypt-dev"])]),

        // The one choke point for system calls (sockets, poll, errno), shared by both executables.
        .target(name: "CPosix", path: "Sources/Shared/CPosix"),
        .target(name: "Posix", dependencies: ["CPosix"], path: "Sources/Shared/Posix"),

        // Layers, each its own library under Sources/Shared (lower layers never import higher ones):
        // Posix → FTPCore → FTPServerKit (pasvd, the bridge); FTPCore → TunnelCore (ftptunnel only).
        // What both programs need around their job: the version, logging set-up, text made safe for a terminal.
        .target(
            name: "ProgramSupport",
            dependencies: ["Posix", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Shared/ProgramSupport"
        ),
        // The FTP wire format: line framing with caps, named reply codes, reply parsing, command lines, the one
        // parser/formatter of 227/229/PORT/EPRT endpoints, port ranges, the transfer log line.
        .target(name: "FTPCore", dependencies: ["Posix"], path: "Sources/Shared/FTPCore"),
        // ftptunnel's pure logic: the control-stream filter and keeper, server diagnosis, profiles and ssh_config,
        // settings resolution, known_hosts, the receive-window policy; digests through libcrypto (Net/Digest.swift).
        .target(
            name: "TunnelCore",
            dependencies: [
                "FTPCore", "ProgramSupport", "Posix", "COpenSSL",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Sources/Shared/TunnelCore"
        ),
        // SSH private keys, certificates and agent messages: openssh-key-v1 (bcrypt_pbkdf), PEM through libcrypto,
        // RSA signatures with SHA-2. Pure parsing; its libcrypto calls sit in KeyCrypto.swift.
        .target(name: "SSHKeys", dependencies: ["COpenSSL"], path: "Sources/Shared/SSHKeys"),
        .executableTarget(
            name: "ftptunnel",
            dependencies: [
                "TunnelCore", "FTPCore", "ProgramSupport", "Posix", "CLibSSH2", "FTPServerKit", "SSHKeys",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The FTP protocol engine: sessions, the command table, replies, listings, data connections, driving a
        // `FileStore` (pasvd's kernel-confined local store is one).
        .target(
            name: "FTPServerKit",
            dependencies: ["FTPCore", "Posix", .product(name: "Logging", package: "swift-log")],
            path: "Sources/Shared/FTPServerKit"
        ),
        // What pasvd's processes tell each other (login worker → listener → account worker): strict, bounded
        // messages, in a library so that a fuzz target can reach the parser a compromised login worker talks to.
        .target(name: "PasvdHandOff", dependencies: ["FTPServerKit"], path: "Sources/Shared/PasvdHandOff"),
        .executableTarget(
            name: "pasvd",
            dependencies: [
                "FTPServerKit", "PasvdHandOff", "FTPCore", "ProgramSupport", "Posix", "CCrypt",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Prints ftptunnel.conf(5) from the profile keyword table (make install, make deb).
        .executableTarget(name: "profile-manual", dependencies: ["TunnelCore"]),
        .executableTarget(
            name: "libssh2-raw-bench",
            dependencies: ["CLibSSH2"],
            path: "Benchmarks/libssh2-raw"
        ),

        // libFuzzer targets (Fuzz/README.md): plain corpus-replay programs in a normal build, fuzzers when built by
        // scripts/fuzz.sh (-DFUZZING, coverage, AddressSanitizer, libFuzzer).
        .target(name: "CFuzzerDriver", path: "Fuzz/CFuzzerDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzerDriver"], path: "Fuzz/FuzzSupport"),
        .executableTarget(name: "fuzz-control-stream-filter", dependencies: ["TunnelCore", "FTPCore", "FuzzSupport"],
                          path: "Fuzz/ControlStreamFilterFuzz"),
        .executableTarget(name: "fuzz-ftp-parsers", dependencies: ["FTPCore", "FuzzSupport"],
                          path: "Fuzz/FTPParsersFuzz"),
        .executableTarget(name: "fuzz-pasvd-handoff", dependencies: ["PasvdHandOff", "FTPServerKit", "FuzzSupport"],
                          path: "Fuzz/PasvdHandOffFuzz"),
        .executableTarget(name: "fuzz-known-hosts", dependencies: ["TunnelCore", "FuzzSupport"], path: "Fuzz/KnownHostsFuzz"),

        // Test helpers: real sshd, real FTP servers, real FTP clients, deadlines.
        .target(name: "TestSupport", dependencies: ["TunnelCore", "FTPCore", "Posix"], path: "Tests/TestSupport"),
        .testTarget(name: "SharedTests",
                    dependencies: ["FTPCore", "TunnelCore", "ProgramSupport", "Posix", "SSHKeys", "TestSupport"]),
        // The engine alone, on an in-memory FileStore: command sequences and their replies over a socket pair.
        // TunnelCore only for Digest (SHA-256 of transfers at both ends).
        .testTarget(name: "FTPServerKitTests", dependencies: ["FTPServerKit", "FTPCore", "Posix", "TunnelCore", "TestSupport"]),
        .testTarget(name: "PasvdTests",
                    dependencies: ["pasvd", "FTPServerKit", "PasvdHandOff", "Posix", "FTPCore", "ProgramSupport", "TestSupport"]),
        .testTarget(name: "FtptunnelTests",
                    dependencies: ["ftptunnel", "pasvd", "TunnelCore", "FTPServerKit", "FTPCore", "ProgramSupport", "Posix", "TestSupport",
                                   "CLibSSH2"]),
    ]
)
